"""The "own dataset" format: one JSON or YAML file, keypoints given BY NAME so any layout works.

    layout: coco17                 # a pose_core layout name, or inline:
                                   #   {name: hands5, keypoints: [wrist, thumb, ...], skeleton: [[wrist, thumb], ...]}
    images_dir: images             # optional, relative to this file (default: the file's directory)
    images:
      - file: 0001.jpg
        width: 640                 # optional (else taken from the decoded image)
        height: 480
        people:
          - keypoints: {nose: [320, 100], left_wrist: [400, 250, 1]}   # [x, y] or [x, y, v]; v: 2 visible
            box: [280, 80, 420, 470]                                   #   1 occluded, 0 unlabelled; optional
        ignore: [[10, 10, 60, 10, 60, 90, 10, 90]]   # optional polygons left out of the loss
        mask: masks/0001.png       # optional mask image (nonzero = use in loss), relative to images_dir

Keypoints not named are unlabelled. Left/right flip pairs of an inline layout follow from the
`left_`/`right_` name prefixes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from pose_core.data.readers.coco import _number_list, load_json
from pose_core.data.sample import AnnotatedDataset, Sample
from pose_core.errors import DatasetError
from pose_core.layouts import KeypointLayout, get_layout


def _layout(spec, path: Path) -> KeypointLayout:
    if isinstance(spec, str):
        try:
            return get_layout(spec)
        except KeyError as exc:
            raise DatasetError(f"{path}: {exc.args[0]}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("keypoints"), list) or not spec["keypoints"]:
        raise DatasetError(f"{path}: 'layout' must be a layout name or {{name, keypoints: [...], skeleton}}")
    names = tuple(str(n) for n in spec["keypoints"])
    try:
        skeleton = tuple((names.index(a), names.index(b)) for a, b in spec.get("skeleton") or [])
    except (ValueError, TypeError):
        raise DatasetError(f"{path}: layout skeleton must be pairs of keypoint names from 'keypoints'") from None
    return KeypointLayout(name=str(spec.get("name", path.stem)), keypoints=names, skeleton=skeleton)


def _load(path: Path):
    if path.suffix.lower() == ".json":
        return load_json(path)
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise DatasetError(f"{path}: annotation file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise DatasetError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None


def read_own(ann_file: str | Path, images_dir: str | Path | None = None,
             skip_empty: bool = True) -> AnnotatedDataset:
    path = Path(ann_file)
    data = _load(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError(f"{path}: needs a top-level 'images' list (and 'layout')")
    layout = _layout(data.get("layout"), path)
    if images_dir is None:
        images_dir = path.parent / data.get("images_dir", ".")
    images_dir = Path(images_dir)
    k = layout.num_keypoints
    counts = {"people": 0, "skipped_no_people": 0}
    samples = []
    for i, rec in enumerate(data["images"]):
        if not isinstance(rec, dict) or not isinstance(rec.get("file"), str):
            raise DatasetError(f"{path}: images[{i}] needs a 'file'")
        where = f"{path}: images[{i}] ({rec['file']})"
        people, boxes = [], []
        for p, person in enumerate(rec.get("people") or []):
            named = person.get("keypoints") if isinstance(person, dict) else None
            if not isinstance(named, dict):
                raise DatasetError(f"{where}, person {p}: needs 'keypoints: {{name: [x, y(, v)]}}'")
            kp = np.zeros((k, 3), np.float32)
            for name, value in named.items():
                if name not in layout.keypoints:
                    raise DatasetError(f"{where}, person {p}: unknown keypoint {name!r} for layout {layout.name}")
                if not (_number_list(value, 2) or _number_list(value, 3)):
                    raise DatasetError(f"{where}, person {p}, {name}: must be [x, y] or [x, y, v]")
                v = value[2] if len(value) == 3 else 2
                if v not in (0, 1, 2):
                    raise DatasetError(f"{where}, person {p}, {name}: visibility must be 0, 1 or 2")
                kp[layout.index(name)] = (value[0], value[1], v) if v else (0, 0, 0)
            box = person.get("box")
            if box is not None and not _number_list(box, 4):
                raise DatasetError(f"{where}, person {p}: box must be [x0, y0, x1, y1]")
            if not (kp[:, 2] > 0).any():
                raise DatasetError(f"{where}, person {p}: no labelled keypoints (use 'ignore' for such people)")
            pts = kp[kp[:, 2] > 0, :2]
            people.append(kp)
            boxes.append(box if box is not None else [*pts.min(0), *pts.max(0)])
        ignore = rec.get("ignore") or []
        if not isinstance(ignore, list) or not all(
                isinstance(poly, list) and len(poly) >= 6 and len(poly) % 2 == 0 and _number_list(poly, len(poly))
                for poly in ignore):
            raise DatasetError(f"{where}: 'ignore' must be a list of polygons [x0, y0, x1, y1, x2, y2, ...]")
        size = (int(rec.get("width", 0)), int(rec.get("height", 0)))
        if ignore and 0 in size:
            raise DatasetError(f"{where}: 'ignore' polygons need the image width and height")
        if not people and skip_empty:
            counts["skipped_no_people"] += 1
            continue
        counts["people"] += len(people)
        samples.append(Sample(
            image_path=str((images_dir / rec["file"]).resolve()), image_size=size,
            keypoints=np.stack(people) if people else np.zeros((0, k, 3), np.float32),
            boxes=np.asarray(boxes, np.float32).reshape(-1, 4), layout=layout,
            ignore_regions=[[poly] for poly in ignore],
            mask_path=str((images_dir / rec["mask"]).resolve()) if rec.get("mask") else "", image_id=i))
    result = AnnotatedDataset(samples, layout, str(path), counts)
    result.log_summary()
    return result
