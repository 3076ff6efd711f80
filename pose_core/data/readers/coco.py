"""COCO keypoints JSON (and CrowdPose, which uses the same format with 14 keypoints) -> Samples.

pycocotools indexes the file; this module validates each record and turns crowd regions and people
without keypoints into ignore regions (left out of the loss), as the OpenPose recipe does.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import math
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from pose_core.data.sample import AnnotatedDataset, Sample
from pose_core.errors import DatasetError
from pose_core.layouts import COCO17, CROWDPOSE14, KeypointLayout

log = logging.getLogger(__name__)


def load_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"{path}: annotation file not found") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from None


def _number_list(value, n: int) -> bool:
    return (isinstance(value, list) and len(value) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in value))


def box_polygon(bbox) -> list[list[float]]:
    """A COCO [x, y, w, h] box as a one-polygon segmentation (CrowdPose has boxes but no masks)."""
    x, y, w, h = (float(v) for v in bbox)
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


def _person_category(data: dict, path: Path, layout: KeypointLayout) -> int:
    cats = data.get("categories") or []
    with_kp = [c for c in cats if isinstance(c, dict) and "keypoints" in c]
    if not with_kp:     # minimal files: assume the COCO person id
        return 1
    cat = next((c for c in with_kp if c.get("name") == "person"), with_kp[0])
    if len(cat["keypoints"]) != layout.num_keypoints:
        raise DatasetError(f"{path}: category {cat.get('name')!r} has {len(cat['keypoints'])} keypoints, "
                           f"layout {layout.name} expects {layout.num_keypoints}")
    return cat["id"]


def default_images_dir(ann_file: Path) -> Path:
    """<root>/images (our synthetic layout), else COCO's own <root>/<split> for
    <root>/annotations/person_keypoints_<split>.json (e.g. train2017)."""
    root = ann_file.parent.parent
    split = ann_file.stem.split("_")[-1]
    if not (root / "images").is_dir() and (root / split).is_dir():
        return root / split
    return root / "images"


def read_coco(ann_file: str | Path, images_dir: str | Path | None = None, layout: KeypointLayout = COCO17,
              skip_empty: bool = True) -> AnnotatedDataset:
    """Read a COCO-format keypoint file. images_dir defaults to <ann_file's dir>/../images, or to
    ../<split> as in COCO's own layout (annotations/person_keypoints_train2017.json + train2017/).
    skip_empty drops images without any labelled person (counted as skipped_no_people)."""
    path = Path(ann_file)
    images_dir = Path(images_dir) if images_dir is not None else default_images_dir(path)
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise DatasetError(f"{path}: not a COCO file (needs 'images' and 'annotations' lists)")
    cat_id = _person_category(data, path, layout)
    k = layout.num_keypoints
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or not all(key in img for key in ("id", "file_name", "width", "height")):
            raise DatasetError(f"{path}: images[{i}] lacks id/file_name/width/height")
    image_ids = {img["id"] for img in data["images"]}
    for i, ann in enumerate(data["annotations"]):
        where = f"{path}: annotations[{i}] (id {ann.get('id') if isinstance(ann, dict) else '?'}"
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise DatasetError(f"{where}): not an object with image_id")
        where += f", image {ann['image_id']})"
        if ann["image_id"] not in image_ids:
            raise DatasetError(f"{where}: image id not in 'images'")
        ann.setdefault("id", -(i + 1))
        if ann.get("category_id", cat_id) != cat_id:
            continue
        kps = ann.get("keypoints", [0] * 3 * k)
        if not _number_list(kps, 3 * k):
            raise DatasetError(f"{where}: keypoints must be {3 * k} numbers for layout {layout.name}, "
                               f"got {len(kps) if isinstance(kps, list) else type(kps).__name__}")
        if any(v not in (0, 1, 2) for v in kps[2::3]):
            raise DatasetError(f"{where}: keypoint visibility must be 0, 1 or 2, got {sorted(set(kps[2::3]))}")
        if "bbox" in ann and not _number_list(ann["bbox"], 4):
            raise DatasetError(f"{where}: bbox must be 4 numbers [x, y, w, h]")
        if ann.get("iscrowd", 0) and not ann.get("segmentation") and "bbox" not in ann:
            raise DatasetError(f"{where}: crowd region without segmentation or bbox")

    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):   # pycocotools prints progress lines
        coco.createIndex()

    counts = {"people": 0, "masked_crowd": 0, "masked_no_keypoints": 0, "skipped_no_people": 0,
              "skipped_other_category": 0}
    samples = []
    for image_id in coco.getImgIds():
        info = coco.imgs[image_id]
        people, boxes, ignore = [], [], []
        for ann in coco.imgToAnns.get(image_id, []):
            if ann.get("category_id", cat_id) != cat_id:
                counts["skipped_other_category"] += 1
                continue
            kp = np.asarray(ann.get("keypoints", [0] * 3 * k), np.float32).reshape(k, 3)
            crowd = bool(ann.get("iscrowd", 0))
            if crowd or not (kp[:, 2] > 0).any():
                segm = ann.get("segmentation") or box_polygon(ann["bbox"])
                ignore.append(segm)
                counts["masked_crowd" if crowd else "masked_no_keypoints"] += 1
                continue
            kp[kp[:, 2] == 0] = 0
            people.append(kp)
            if "bbox" in ann:
                x, y, w, h = ann["bbox"]
                boxes.append([x, y, x + w, y + h])
            else:
                pts = kp[kp[:, 2] > 0, :2]
                boxes.append([*pts.min(0), *pts.max(0)])
        if not people and skip_empty:
            counts["skipped_no_people"] += 1
            continue
        counts["people"] += len(people)
        samples.append(Sample(
            image_path=str((images_dir / info["file_name"]).resolve()),
            image_size=(int(info["width"]), int(info["height"])),
            keypoints=np.stack(people) if people else np.zeros((0, k, 3), np.float32),
            boxes=np.asarray(boxes, np.float32).reshape(-1, 4), layout=layout,
            ignore_regions=ignore, image_id=image_id))
    result = AnnotatedDataset(samples, layout, str(path), counts)
    result.log_summary()
    return result


def read_crowdpose(ann_file: str | Path, images_dir: str | Path | None = None,
                   skip_empty: bool = True) -> AnnotatedDataset:
    """CrowdPose JSON: COCO format, 14 keypoints in the crowdpose14 order, boxes but no masks."""
    return read_coco(ann_file, images_dir, layout=CROWDPOSE14, skip_empty=skip_empty)
