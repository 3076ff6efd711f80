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
