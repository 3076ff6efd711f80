"""MPII in DeeperCut's (pose-tensorflow's) `dataset.mat` form -> Samples.

The .mat file holds a struct array `dataset` with one entry per image and fields
  image   the image path (relative to images_dir)
  size    [channels, height, width]
  joints  a cell array with one (n, 3) matrix per person, rows [joint_id, x, y]; joint ids are 0-based
          indices into the layout (mpii16 by default), coordinates in pixels
Joints that are listed are labelled (v = 2; the format has no visibility); missing ones are unlabelled.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from pose_core.data.sample import AnnotatedDataset, Sample
from pose_core.errors import DatasetError
from pose_core.layouts import MPII16, KeypointLayout


def _scalar_str(value) -> str:
    arr = np.asarray(value).ravel()
    while arr.dtype == object and arr.size == 1:
        arr = np.asarray(arr[0]).ravel()
    if arr.dtype.kind in "US" and arr.size == 1:
        return str(arr[0])
    raise ValueError("not a string")


def _people(joints) -> list[np.ndarray]:
    """The joints field as a list of (n, 3) float arrays, whether stored as a cell or a single matrix."""
    arr = np.asarray(joints)
    if arr.dtype != object:
        return [arr.astype(np.float64).reshape(-1, 3)] if arr.size else []
    return [np.asarray(p, np.float64).reshape(-1, 3) if np.asarray(p).size else np.zeros((0, 3))
            for p in arr.ravel()]


def read_deepercut_mat(mat_file: str | Path, images_dir: str | Path | None = None,
                       layout: KeypointLayout = MPII16, skip_empty: bool = True) -> AnnotatedDataset:
    path = Path(mat_file)
    images_dir = Path(images_dir) if images_dir is not None else path.parent
    try:
        mat = scipy.io.loadmat(str(path))
    except FileNotFoundError:
        raise DatasetError(f"{path}: dataset file not found") from None
    except Exception as exc:   # scipy raises several types for corrupt files
        raise DatasetError(f"{path}: not a readable .mat file: {exc}") from None
    if "dataset" not in mat:
        found = ", ".join(k for k in mat if not k.startswith("__"))
        raise DatasetError(f"{path}: no 'dataset' variable (found: {found})")
    records = np.asarray(mat["dataset"]).ravel()
    names = records.dtype.names or ()
    missing = [f for f in ("image", "size", "joints") if f not in names]
    if missing:
        raise DatasetError(f"{path}: dataset entries lack field(s) {', '.join(missing)}")
    k = layout.num_keypoints
    counts = {"people": 0, "skipped_person_no_joints": 0, "skipped_no_people": 0}
    samples = []
    for i, rec in enumerate(records):
        try:
            image = _scalar_str(rec["image"])
        except ValueError:
            raise DatasetError(f"{path}: entry {i}: 'image' is not a path string") from None
        where = f"{path}: entry {i} (image {image})"
        size = np.asarray(rec["size"], np.float64).ravel()
        if size.size != 3 or (size <= 0).any():
            raise DatasetError(f"{where}: 'size' must be [channels, height, width], got {size.tolist()}")
        try:
            people_rows = _people(rec["joints"])
        except (ValueError, TypeError):
            raise DatasetError(f"{where}: 'joints' must hold (n, 3) rows [joint_id, x, y]") from None
        people = []
        for p, rows in enumerate(people_rows):
            kp = np.zeros((k, 3), np.float32)
            for joint_id, x, y in rows:
                if joint_id != int(joint_id) or not 0 <= joint_id < k:
                    raise DatasetError(f"{where}, person {p}: joint id {joint_id:g} outside 0..{k - 1} "
                                       f"for layout {layout.name}")
                kp[int(joint_id)] = (x, y, 2)
            if (kp[:, 2] > 0).any():
                people.append(kp)
            else:
                counts["skipped_person_no_joints"] += 1
        if not people and skip_empty:
            counts["skipped_no_people"] += 1
            continue
        counts["people"] += len(people)
        samples.append(Sample(
            image_path=str((images_dir / image).resolve()), image_size=(int(size[2]), int(size[1])),
            keypoints=np.stack(people) if people else np.zeros((0, k, 3), np.float32),
            layout=layout, image_id=i))
    result = AnnotatedDataset(samples, layout, str(path), counts)
    result.log_summary()
    return result
