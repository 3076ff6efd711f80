"""Matching a dataset's keypoint names to a model's layout before training.

Samples are converted between layouts by NAME (pose_core.data.sample.convert_keypoints; OpenPose's neck
is derived from the shoulders). A model keypoint the dataset does not name would silently never be
trained, so it is an error that lists the missing names and, for each, the dataset's closest names as a
ready-to-paste `data.keypoint_map`. `data.keypoint_map: {dataset name: model name}` renames the dataset's
keypoints; `data.missing_keypoints: ignore` trains with them unlabelled (e.g. MPII has no eyes or ears).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import replace

from pose_core.data.sample import DERIVED_KEYPOINTS, Sample
from pose_core.errors import DatasetError
from pose_core.layouts import KeypointLayout


def _canonical(name: str) -> str:
    """'L_Shoulder', 'left-shoulder', 'lShoulder' -> 'leftshoulder' (for suggestions only)."""
    name = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()
    name = re.sub(r"^l(?=[_\-\s])", "left", name)
    name = re.sub(r"^r(?=[_\-\s])", "right", name)
    return re.sub(r"[^a-z0-9]", "", name)


def missing_names(source: KeypointLayout, target: KeypointLayout) -> list[str]:
    """Target keypoints that the source neither names nor lets us derive."""
    return [n for n in target.keypoints if n not in source.keypoints
            and not (n in DERIVED_KEYPOINTS and all(p in source.keypoints for p in DERIVED_KEYPOINTS[n]))]


def suggest_mapping(source: KeypointLayout, target_names: list[str]) -> dict[str, str]:
    """{dataset name: model name} for the missing model names with a close dataset name."""
    unused = [n for n in source.keypoints if n not in target_names]
    by_canon = {_canonical(n): n for n in unused}
    out = {}
    for name in target_names:
        hit = difflib.get_close_matches(_canonical(name), list(by_canon), n=1, cutoff=0.75)
        if hit and by_canon[hit[0]] not in out:
            out[by_canon[hit[0]]] = name
    return out


def rename_layout(layout: KeypointLayout, mapping: dict[str, str]) -> KeypointLayout:
    unknown = [k for k in mapping if k not in layout.keypoints]
    if unknown:
        raise DatasetError(f"data.keypoint_map: {', '.join(unknown)} not in the dataset's layout {layout.name} "
                           f"({', '.join(layout.keypoints)})")
    names = tuple(mapping.get(n, n) for n in layout.keypoints)
    if len(set(names)) != len(names):
        raise DatasetError(f"data.keypoint_map: two dataset keypoints map to the same name: {names}")
    return replace(layout, name=f"{layout.name}-renamed", keypoints=names)


def match_layout(samples: list[Sample], target: KeypointLayout, mapping: dict | None = None,
                 missing: str = "error") -> list[Sample]:
    """Samples whose layout (renamed by `mapping`) covers `target` by name; DatasetError otherwise
    (missing="ignore": those keypoints stay unlabelled)."""
    if not samples:
        return samples
    source = samples[0].layout
    if mapping:
        source = rename_layout(source, {str(k): str(v) for k, v in mapping.items()})
        samples = [replace(s, layout=source) for s in samples]
    lacking = missing_names(source, target)
    if lacking and missing != "ignore":
        hint = suggest_mapping(source, lacking)
        offer = ("; map them by name with data.keypoint_map: {" + ", ".join(f"{a}: {b}" for a, b in hint.items())
                 + "}") if hint else ""
        raise DatasetError(
            f"the dataset's keypoints ({source.name}) lack {len(lacking)} of the model's {target.name} "
            f"keypoints: {', '.join(lacking)}{offer} (or data.missing_keypoints: ignore to train them as "
            f"unlabelled)")
    return samples
