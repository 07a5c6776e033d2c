"""Draws the sample newsletter's two figures (diagrams of our own, no third-party pictures).

    python docs/figures/sample_figures.py      # writes docs/figures/*.png
    newsletter figure add docs/figures/continuous-batching.png --issue 1 --alt "..."

The PNGs are the sources; the issues show the WebP copies `newsletter figure add` made of them.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
INK, MUTED, ACCENT, SOFT, PAPER = (33, 33, 33), (120, 120, 120), (230, 81, 0), (255, 204, 170), (255, 255, 255)
COLOURS = [(230, 81, 0), (0, 121, 107), (63, 81, 181), (156, 39, 176)]


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def continuous_batching() -> Image.Image:
    """Four requests of different lengths in a batch of four slots: static vs continuous batching."""
    image = Image.new("RGB", (1600, 900), PAPER)
    draw = ImageDraw.Draw(image)
    draw.text((60, 40), "Static vs continuous batching (4 slots, 8 requests)", fill=INK, font=font(44))
    lengths = [5, 2, 7, 3, 4, 6, 2, 3]  # decode steps per request, made up to show the idea
    step, left = 80, 260

    def lane(y: int, label: str, schedule: list[list[tuple[int, int, int]]]) -> None:
        draw.text((60, y - 40), label, fill=INK, font=font(34))
        for slot, runs in enumerate(schedule):
            top = y + slot * 70
            draw.text((60, top + 12), f"slot {slot + 1}", fill=MUTED, font=font(26))
            for request, start, length in runs:
                x0, x1 = left + start * step, left + (start + length) * step - 6
                draw.rounded_rectangle([x0, top, x1, top + 56], radius=10, fill=COLOURS[request % 4])
                draw.text((x0 + 14, top + 12), f"R{request + 1}", fill=PAPER, font=font(28))

    # static: requests 1-4 run together; 5-8 start only when the longest of them (7 steps) is done
    static = [[(i, 0, lengths[i]), (i + 4, 7, lengths[i + 4])] for i in range(4)]
    lane(170, "Static: a batch waits for its longest request (idle slots in white)", static)
    # continuous: a finished slot takes the next waiting request at the next step
    free, queue, cont = [0, 0, 0, 0], list(range(8)), [[] for _ in range(4)]
    for request in queue:
        slot = min(range(4), key=lambda s: free[s])
        cont[slot].append((request, free[slot], lengths[request]))
        free[slot] += lengths[request]
    lane(570, "Continuous: a free slot takes the next request at once", cont)
    draw.text((left, 860), "decode steps ->", fill=MUTED, font=font(26))
    return image


def retrieval_pipeline() -> Image.Image:
    """The two-stage retrieval pipeline the issue's stories are about."""
    image = Image.new("RGB", (1600, 600), PAPER)
    draw = ImageDraw.Draw(image)
    draw.text((60, 40), "Two-stage retrieval: recall wide, then rank precisely", fill=INK, font=font(44))
    boxes = [("Query", ""), ("Embed", "bi-encoder"), ("ANN search", "top 100 (HNSW)"),
             ("Re-rank", "top 10, cross-encoder"), ("LLM", "answers from them")]
    width, gap, top = 250, 62, 230  # five boxes fill 1600 px
    for n, (title, sub) in enumerate(boxes):
        x = 60 + n * (width + gap)
        fill = SOFT if n in (2, 3) else (238, 238, 238)
        draw.rounded_rectangle([x, top, x + width, top + 170], radius=18, fill=fill, outline=INK, width=3)
        draw.text((x + 24, top + 40), title, fill=INK, font=font(38))
        if sub:
            draw.text((x + 24, top + 100), sub, fill=MUTED, font=font(22))
        if n < len(boxes) - 1:
            y = top + 85
            draw.line([x + width + 8, y, x + width + gap - 10, y], fill=ACCENT, width=6)
            draw.polygon([(x + width + gap - 8, y), (x + width + gap - 24, y - 12), (x + width + gap - 24, y + 12)],
                         fill=ACCENT)
    draw.text((60, 480), "Cheap vectors find candidates fast; the expensive model only sees a hundred of them.",
              fill=MUTED, font=font(30))
    return image


if __name__ == "__main__":
    continuous_batching().save(HERE / "continuous-batching.png")
    retrieval_pipeline().save(HERE / "two-stage-retrieval.png")
