"""Split a COCO-format keypoints file into train / validation files by image (a held-out set for the
validation AP during fine-tuning).

    python -m pose_core.data.split labelled.json --val 2 --out data/mine [--seed 0]
    -> data/mine/train.json, data/mine/val.json (file_name paths unchanged: keep the same images folder)

Images are assigned by a seeded shuffle of their ids, so the same file and seed give the same split.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from pose_core.data.readers.coco import load_json
from pose_core.errors import DatasetError


def split_coco(data: dict, val: int | float, seed: int = 0) -> tuple[dict, dict]:
    """val: a number of images (int >= 1) or a fraction (0 < val < 1) for the validation part."""
    ids = sorted(img["id"] for img in data["images"])
    n_val = int(round(val * len(ids))) if isinstance(val, float) and val < 1 else int(val)
    if not 1 <= n_val < len(ids):
        raise DatasetError(f"cannot hold out {val} of {len(ids)} images (both parts need at least one)")
    random.Random(seed).shuffle(ids)
    val_ids = set(ids[:n_val])

    def part(keep) -> dict:
        out = {k: v for k, v in data.items() if k not in ("images", "annotations")}
        out["images"] = [img for img in data["images"] if keep(img["id"])]
        out["annotations"] = [a for a in data["annotations"] if keep(a["image_id"])]
        return out
    return part(lambda i: i not in val_ids), part(lambda i: i in val_ids)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pose_core.data.split", description=__doc__.splitlines()[0])
    p.add_argument("annotations", help="COCO-format keypoints JSON")
    p.add_argument("--val", type=float, default=0.2, help="validation images: a count (>= 1) or a fraction")
    p.add_argument("--out", required=True, help="folder for train.json and val.json")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        data = load_json(Path(args.annotations))
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise DatasetError(f"{args.annotations}: not a COCO file (needs 'images' and 'annotations')")
        val = int(args.val) if args.val >= 1 else args.val
        train, held = split_coco(data, val, args.seed)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.json", train), ("val.json", held)):
        (out / name).write_text(json.dumps(part))
        print(f"{out / name}: {len(part['images'])} images, {len(part['annotations'])} people")
    return 0


if __name__ == "__main__":
    sys.exit(main())
