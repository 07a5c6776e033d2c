"""Why two catalog items were called near-duplicates: the signals of a scored pair, recomputed.

`SemanticEngine.duplicate_pairs` keeps only the scores; `newsletter dupes --explain` asks for the
signals behind them. They are recomputed here the way the engine scored the pair — stored vectors,
`dupes.pair_features` with the IDF over the live items in the index — so the explained score is the
reported one. Only the explained pairs cost anything beyond the IDF (one pass over the items).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from newsletter.models import Item
from newsletter.semantic import dupes
from newsletter.semantic.engine import SemanticEngine


def explain_pairs(
    engine: SemanticEngine, items: Sequence[Item], pairs: Iterable[tuple[str, str]],
) -> dict[tuple[str, str], dict[str, Any]]:
    """`dupes.explain` of each (a, b) pair of live, indexed items; pairs it cannot explain are left out."""
    if not engine.index.loaded:
        engine.index.load()
    live = {it.id: it for it in items if not it.duplicate_of and it.id in engine.index.by_id}
    wanted = [(a, b) for a, b in pairs if a in live and b in live and a != b]
    if not wanted:
        return {}
    signals = {i: dupes.item_signals(it) for i, it in live.items()}
    idf = dupes.Idf.from_signals(signals.values())
    ids = sorted({i for pair in wanted for i in pair})
    vectors = dict(zip(ids, engine.index.vectors(ids), strict=True))
    out = {}
    for a, b in wanted:
        cosine = float(vectors[a] @ vectors[b])
        out[(a, b)] = dupes.explain(dupes.pair_features(signals[a], signals[b], cosine, idf))
    return out


def signal_line(explanation: dict[str, Any], *, limit: int = 6) -> str:
    """One readable line: the strongest contributions first ("cos 0.82 (+1.34), key 1.00 (+0.78), ...")."""
    parts = [f"{s['name']} {s['value']:.2f} ({s['contribution']:+.2f})" for s in explanation["signals"][:limit]]
    rest = len(explanation["signals"]) - limit
    if rest > 0:
        parts.append(f"+{rest} more")
    line = ", ".join(parts) + f"; bias {explanation['bias']:+.2f}"
    if explanation.get("rule"):
        line += f"; {explanation['rule']}"
    return line
