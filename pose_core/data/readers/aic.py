"""AI Challenger keypoint JSON -> Samples (14 keypoints, aic14 layout).

The file is a list of records {image_id, keypoint_annotations: {human1: [x, y, v] * 14},
human_annotations: {human1: [x0, y0, x1, y1]}}; images are <images_dir>/<image_id>.jpg. AI Challenger's
visibility codes are 1 visible, 2 occluded, 3 unlabelled; they become COCO's 2, 1, 0. Image sizes are
not in the file: samples carry (0, 0) and the pipeline takes the size from the decoded image.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pose_core.data.readers.coco import _number_list, load_json
from pose_core.data.sample import AnnotatedDataset, Sample
from pose_core.errors import DatasetError
from pose_core.layouts import AIC14

_TO_COCO_VISIBILITY = {1: 2, 2: 1, 3: 0}


def read_aic(ann_file: str | Path, images_dir: str | Path | None = None,
             skip_empty: bool = True) -> AnnotatedDataset:
    path = Path(ann_file)
    images_dir = Path(images_dir) if images_dir is not None else path.parent / "images"
    data = load_json(path)
    if not isinstance(data, list):
        raise DatasetError(f"{path}: AI Challenger annotations must be a JSON list of image records")
    k = AIC14.num_keypoints
    counts = {"people": 0, "masked_no_keypoints": 0, "skipped_person_no_box": 0, "skipped_no_people": 0}
    samples = []
    for i, rec in enumerate(data):
        if not isinstance(rec, dict) or "image_id" not in rec:
            raise DatasetError(f"{path}: record {i} has no image_id")
        where = f"{path}: record {i} (image {rec['image_id']})"
        kp_anns = rec.get("keypoint_annotations") or {}
        box_anns = rec.get("human_annotations") or {}
        if not isinstance(kp_anns, dict) or not isinstance(box_anns, dict):
            raise DatasetError(f"{where}: keypoint_annotations / human_annotations must be objects")
        people, boxes, unlabelled = [], [], []
        for human, values in sorted(kp_anns.items()):
            if not _number_list(values, 3 * k):
                raise DatasetError(f"{where}, {human}: keypoints must be {3 * k} numbers")
            codes = values[2::3]
            if any(c not in _TO_COCO_VISIBILITY for c in codes):
                raise DatasetError(f"{where}, {human}: visibility must be 1, 2 or 3, got {sorted(set(codes))}")
            kp = np.asarray(values, np.float32).reshape(k, 3)
            kp[:, 2] = [_TO_COCO_VISIBILITY[int(c)] for c in codes]
            kp[kp[:, 2] == 0] = 0
            box = box_anns.get(human)
            if box is not None and not _number_list(box, 4):
                raise DatasetError(f"{where}, {human}: human_annotations box must be 4 numbers")
            if not (kp[:, 2] > 0).any():     # nothing labelled: like a box without keypoints
                unlabelled.append(human)
                continue
            if box is None:
                pts = kp[kp[:, 2] > 0, :2]
                box = [*pts.min(0), *pts.max(0)]
            people.append(kp)
            boxes.append(box)
        # Boxes without (labelled) keypoints are people the annotators did not label: leave them out of
        # the loss.
        ignore = []
        for human, box in sorted(box_anns.items()):
            if human in kp_anns and human not in unlabelled:
                continue
            if not _number_list(box, 4):
                raise DatasetError(f"{where}, {human}: human_annotations box must be 4 numbers")
            x0, y0, x1, y1 = box
            ignore.append([[x0, y0, x1, y0, x1, y1, x0, y1]])
        counts["masked_no_keypoints"] += len(ignore)
        counts["skipped_person_no_box"] += sum(h not in box_anns for h in unlabelled)
        if not people and skip_empty:
            counts["skipped_no_people"] += 1
            continue
        counts["people"] += len(people)
        samples.append(Sample(
            image_path=str((images_dir / f"{rec['image_id']}.jpg").resolve()), image_size=(0, 0),
            keypoints=np.stack(people) if people else np.zeros((0, k, 3), np.float32),
            boxes=np.asarray(boxes, np.float32).reshape(-1, 4), layout=AIC14, ignore_regions=ignore,
            image_id=rec["image_id"]))
    result = AnnotatedDataset(samples, AIC14, str(path), counts)
    result.log_summary()
    return result
