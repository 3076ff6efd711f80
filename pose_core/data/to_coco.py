"""Samples (from any reader) -> COCO keypoints JSON content, so pycocotools-based evaluation (OKS AP,
CrowdPose AP, PCKh) runs on every dataset format we read, e.g. DeeperCut/MPII `dataset.mat`."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pose_core.data.sample import Sample
from pose_core.layouts import KeypointLayout


def samples_to_coco(samples: list[Sample], layout: KeypointLayout, images_root: str | Path) -> dict:
    """file_name is each image's path relative to images_root; image ids are the samples' ids when they
    are integers, else 1-based positions."""
    images, annotations = [], []
    for n, s in enumerate(samples):
        image_id = s.image_id if isinstance(s.image_id, (int, np.integer)) else n + 1
        w, h = s.image_size
        images.append({"id": int(image_id), "width": int(w), "height": int(h),
                       "file_name": os.path.relpath(s.image_path, images_root)})
        for kps, (x0, y0, x1, y1) in zip(s.keypoints, s.boxes):
            annotations.append({
                "id": len(annotations) + 1, "image_id": int(image_id), "category_id": 1, "iscrowd": 0,
                "keypoints": [round(float(v), 3) for v in kps.reshape(-1)],
                "num_keypoints": int((kps[:, 2] > 0).sum()),
                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                "area": float((x1 - x0) * (y1 - y0))})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "keypoints": list(layout.keypoints),
                            "skeleton": [[a + 1, b + 1] for a, b in layout.skeleton]}]}


def main(argv: list[str] | None = None) -> int:
    """`python -m pose_core.data.to_coco ANNOTATIONS --format own --out labels.json [--layout aic14]`:
    any dataset format we read -> one COCO keypoints file (what `pose eval` and validation read)."""
    import argparse
    import json
    import sys

    from pose_core.data.readers import READERS, read_dataset
    from pose_core.data.sample import to_layout
    from pose_core.errors import PoseError
    from pose_core.layouts import get_layout

    p = argparse.ArgumentParser(prog="python -m pose_core.data.to_coco", description=main.__doc__.splitlines()[0])
    p.add_argument("annotations")
    p.add_argument("--format", default="own", choices=sorted(READERS))
    p.add_argument("--images", help="image folder (default: the reader's)")
    p.add_argument("--layout", help="convert the keypoints to this layout by name (e.g. the model's)")
    p.add_argument("--out", required=True, help="COCO JSON to write; file_name is relative to its images folder")
    args = p.parse_args(argv)
    try:
        dataset = read_dataset(args.format, args.annotations, args.images)
        layout = get_layout(args.layout) if args.layout else dataset.layout
        samples = to_layout(list(dataset), layout)
    except (PoseError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not samples:
        print(f"error: {args.annotations}: no labelled images", file=sys.stderr)
        return 1
    root = Path(args.images) if args.images else Path(os.path.commonpath([s.image_path for s in samples]))
    if root.is_file():
        root = root.parent
    Path(args.out).write_text(json.dumps(samples_to_coco(samples, layout, root)))
    print(f"{args.out}: {len(samples)} images, {sum(s.num_people for s in samples)} people, layout {layout.name}, "
          f"images relative to {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
