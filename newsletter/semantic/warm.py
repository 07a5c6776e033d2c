"""`python -m newsletter.semantic.warm`: fill this machine's ONNX cache for the default model.

Run by `make install`, so no project's first command on this machine loads torch. A module of
its own because it joins the cache (`onnxcache`) with the exporter (`embedders`), which already
uses the cache: keeping the join here keeps the import graph free of cycles.
"""

from __future__ import annotations

from . import onnxcache
from .embedders import export_onnx, resolve_model


def main() -> None:
    """Export the default model into the machine cache unless it is there; say where it is."""
    name, model_dir = resolve_model("default")
    shared = onnxcache.fill(name, model_dir, export_onnx)
    print(f"ONNX export of {name} ready in {shared}")


if __name__ == "__main__":
    main()
