"""The result type of every decoder and the estimator: one detected person."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pose_core.layouts import KeypointLayout


def drop_keypoints(keypoints: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mark the masked rows of a (K, 3) keypoint array "not detected", in place: the package-wide (0, 0, 0)
    (see msg/Keypoint.msg). The one way every layer (codec threshold, letterbox check, score filter) drops
    a keypoint, so "not detected" means the same everywhere."""
    keypoints[np.asarray(mask, bool)] = 0.0
    return keypoints


@dataclass
class Person:
    """keypoints: (K, 3) float32 rows of (x, y, score) in the layout's order. Coordinates are in
    ORIGINAL image pixels once the estimator returns them; an undetected keypoint is (0, 0, 0)."""
    keypoints: np.ndarray
    score: float
    layout: KeypointLayout
    # (x_min, y_min, x_max, y_max) in the same pixels; None means "derive from keypoints".
    box: tuple[float, float, float, float] | None = None
    track_id: int = -1
    # Optional (K, 4) rows of (X, Y, Z, valid) in metres in the camera frame (filled by the 3D lift).
    keypoints_3d: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, np.float32).reshape(self.layout.num_keypoints, 3)

    def drop_keypoints(self, mask: np.ndarray) -> None:
        """Mark the masked keypoints not detected (pose_core.people.drop_keypoints)."""
        drop_keypoints(self.keypoints, mask)

    @property
    def visible(self) -> np.ndarray:
        return self.keypoints[:, 2] > 0

    def bbox(self) -> tuple[float, float, float, float]:
        if self.box is not None:
            return self.box
        pts = self.keypoints[self.visible, :2]
        if len(pts) == 0:
            return (0.0, 0.0, 0.0, 0.0)
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        return (float(x0), float(y0), float(x1), float(y1))

    def to_dict(self) -> dict:
        return {"score": round(float(self.score), 4),
                "keypoints": [[round(float(x), 2), round(float(y), 2), round(float(s), 4)]
                              for x, y, s in self.keypoints]}


def filter_people(people: list[Person], min_person_score: float = 0.0,
                  min_keypoint_score: float = 0.0) -> list[Person]:
    """The result filter (docs/ros.md, "Score thresholds"): people scoring below min_person_score are
    dropped; keypoints below min_keypoint_score become (0, 0, 0), i.e. not detected. In place, as the list."""
    kept = [p for p in people if p.score >= min_person_score]
    if min_keypoint_score > 0.0:
        for p in kept:
            p.drop_keypoints(p.keypoints[:, 2] < min_keypoint_score)
    return kept
