#!/usr/bin/env python3
"""Training entry point from a source checkout: `python training/train.py RECIPE.yaml [options]`,
the same as `pose train` / `pose-train` (see docs/training.md)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose_core.cli.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
