"""Keypoint layouts as data: names, drawing skeleton, left/right flip pairs, PAF limbs, COCO-17 mapping.

A layout is the contract between a model's output channels and everything downstream (decoders,
drawing, tracking, evaluation, messages). Nothing else in the package hard-codes keypoint indices.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class KeypointLayout:
    name: str
    keypoints: tuple[str, ...]
    # (a, b) index pairs drawn as limbs.
    skeleton: tuple[tuple[int, int], ...]
    # OpenPose-style limbs for part affinity fields: ((a, b), (paf_x_channel, paf_y_channel)).
    paf_limbs: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = ()
    # Per-keypoint OKS sigmas (COCO-style) for evaluation/tracking; 0.05 where none is published.
    sigmas: tuple[float, ...] = field(default=())

    def __post_init__(self):
        n = len(self.keypoints)
        for a, b in self.skeleton:
            if not (0 <= a < n and 0 <= b < n):
                raise ValueError(f"{self.name}: skeleton edge ({a}, {b}) out of range")
        if self.sigmas and len(self.sigmas) != n:
            raise ValueError(f"{self.name}: {len(self.sigmas)} sigmas for {n} keypoints")

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    def index(self, name: str) -> int:
        return self.keypoints.index(name)

    @property
    def flip_permutation(self) -> np.ndarray:
        """perm[i] = index of the mirror keypoint of i (itself if it has none); derived from names."""
        perm = np.arange(self.num_keypoints)
        for i, kp in enumerate(self.keypoints):
            for a, b in (("left_", "right_"), ("right_", "left_")):
                if kp.startswith(a) and b + kp[len(a):] in self.keypoints:
                    perm[i] = self.index(b + kp[len(a):])
        return perm

    @property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        perm = self.flip_permutation
        return tuple((i, int(j)) for i, j in enumerate(perm) if i < j)

    @property
    def sigma_array(self) -> np.ndarray:
        if self.sigmas:
            return np.asarray(self.sigmas, np.float32)
        coco = dict(zip(COCO17.keypoints, COCO17.sigmas)) if self is not COCO17 else {}
        return np.asarray([coco.get(k, 0.05) for k in self.keypoints], np.float32)

    def to_coco17(self) -> np.ndarray:
        """Index into this layout for each COCO-17 keypoint, -1 where this layout lacks it."""
        return np.asarray([self.keypoints.index(k) if k in self.keypoints else -1
                           for k in COCO17.keypoints], np.int64)

    def convert(self, keypoints: np.ndarray, target: "KeypointLayout") -> np.ndarray:
        """Re-order (K, 3) keypoints into `target`'s order; missing ones become (0, 0, 0)."""
        out = np.zeros((target.num_keypoints, keypoints.shape[-1]), keypoints.dtype)
        for j, name in enumerate(target.keypoints):
            if name in self.keypoints:
                out[j] = keypoints[self.index(name)]
        return out


def _edges(names: tuple[str, ...], pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((names.index(a), names.index(b)) for a, b in pairs)


def _paf_table(names: tuple[str, ...], pairs: list[tuple[str, str]]):
    """PAF limbs for layouts trained by us: limb i (a -> b) uses channels (2i, 2i+1); listed root-first
    so greedy assembly grows each person from the torso outwards."""
    return tuple((edge, (2 * i, 2 * i + 1)) for i, edge in enumerate(_edges(names, pairs)))


_COCO_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle")
_LIMBS = [("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
          ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
          ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
          ("right_hip", "right_knee"), ("right_knee", "right_ankle")]

COCO17 = KeypointLayout(
    name="coco17",
    keypoints=_COCO_NAMES,
    skeleton=_edges(_COCO_NAMES, _LIMBS + [
        ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
        ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
        ("right_eye", "right_ear"), ("left_ear", "left_shoulder"), ("right_ear", "right_shoulder")]),
    # Published COCO keypoint OKS sigmas.
    sigmas=(.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107, .087, .087,
            .089, .089),
    # Defined by pose_core.models for PAF nets trained on COCO-17 (no neck: torso from the shoulders).
    paf_limbs=_paf_table(_COCO_NAMES, [
        ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
        ("left_hip", "right_hip"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
        ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
        ("left_shoulder", "nose"), ("right_shoulder", "nose"), ("nose", "left_eye"), ("nose", "right_eye"),
        ("left_eye", "left_ear"), ("right_eye", "right_ear"), ("left_shoulder", "left_ear"),
        ("right_shoulder", "right_ear")]),
)

# OpenPose / tf-pose-estimation "CocoPart" order: COCO's keypoints plus a neck, right side first.
_OPENPOSE_NAMES = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear")
# The 19 limbs of the CMU model family and the (x, y) channels of their fields inside the 38 PAF
# channels (the network's own channel order, not the limb order).
_OPENPOSE_PAF = (
    ((1, 2), (12, 13)), ((1, 5), (20, 21)), ((2, 3), (14, 15)), ((3, 4), (16, 17)),
    ((5, 6), (22, 23)), ((6, 7), (24, 25)), ((1, 8), (0, 1)), ((8, 9), (2, 3)), ((9, 10), (4, 5)),
    ((1, 11), (6, 7)), ((11, 12), (8, 9)), ((12, 13), (10, 11)), ((1, 0), (28, 29)),
    ((0, 14), (30, 31)), ((14, 16), (34, 35)), ((0, 15), (32, 33)), ((15, 17), (36, 37)),
    ((2, 16), (18, 19)), ((5, 17), (26, 27)))
OPENPOSE18 = KeypointLayout(
    name="openpose18",
    keypoints=_OPENPOSE_NAMES,
    # Draw every PAF limb except the ear-shoulder shortcuts.
    skeleton=tuple(limb for limb, _ in _OPENPOSE_PAF[:17]),
    paf_limbs=_OPENPOSE_PAF,
)

# AI Challenger order (PoseEstimationForMobile's 14 keypoints).
_AIC_NAMES = (
    "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "head_top", "neck")
AIC14 = KeypointLayout(
    name="aic14",
    keypoints=_AIC_NAMES,
    skeleton=_edges(_AIC_NAMES, _LIMBS + [
        ("head_top", "neck"), ("neck", "left_shoulder"), ("neck", "right_shoulder"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "right_hip")]),
)

# PoseEstimationForMobile's CPM/Hourglass emit the AI Challenger keypoints in their own order (head and
# neck first, then OpenPose-like right-then-left limbs) - measured on the models' outputs, docs/decoders.md.
_POSE_MOBILE_NAMES = (
    "head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle")
POSEMOBILE14 = KeypointLayout(
    name="posemobile14",
    keypoints=_POSE_MOBILE_NAMES,
    skeleton=_edges(_POSE_MOBILE_NAMES, [(a, b) for a, b in
                                          ((_AIC_NAMES[i], _AIC_NAMES[j]) for i, j in AIC14.skeleton)]),
)

_MPII_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
    "left_elbow", "left_wrist")
MPII16 = KeypointLayout(
    name="mpii16",
    keypoints=_MPII_NAMES,
    skeleton=_edges(_MPII_NAMES, _LIMBS + [
        ("right_hip", "pelvis"), ("left_hip", "pelvis"), ("pelvis", "thorax"), ("thorax", "upper_neck"),
        ("upper_neck", "head_top"), ("thorax", "right_shoulder"), ("thorax", "left_shoulder")]),
)

_CROWDPOSE_NAMES = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head_top", "neck")
CROWDPOSE14 = KeypointLayout(
    name="crowdpose14",
    keypoints=_CROWDPOSE_NAMES,
    skeleton=_edges(_CROWDPOSE_NAMES, _LIMBS + [
        ("head_top", "neck"), ("neck", "left_shoulder"), ("neck", "right_shoulder"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "right_hip")]),
    # Defined by pose_core.models for PAF nets trained on CrowdPose: a tree rooted at the neck.
    paf_limbs=_paf_table(_CROWDPOSE_NAMES, [
        ("neck", "head_top"), ("neck", "left_shoulder"), ("neck", "right_shoulder"), ("neck", "left_hip"),
        ("neck", "right_hip"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
        ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle")]),
    # CrowdPose's published sigmas (COCO's for the body joints; head_top, neck their own).
    sigmas=(.079, .079, .072, .072, .062, .062, .107, .107, .087, .087, .089, .089, .079, .079),
)

LAYOUTS: dict[str, KeypointLayout] = {
    layout.name: layout for layout in (COCO17, OPENPOSE18, AIC14, POSEMOBILE14, MPII16, CROWDPOSE14)}


def get_layout(name: str) -> KeypointLayout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise KeyError(f"unknown keypoint layout {name!r}; known: {', '.join(LAYOUTS)}") from None
