"""One frame through the ROS-free chain: estimator -> score filters -> tracking -> 3D lift.

The node hands a BGR image (and optionally aligned depth + K) to FramePipeline.process(); everything that
is not message wiring happens here or in pose_core.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose_core.lift3d import lift_people
from pose_core.tracking import PoseTracker


def nearest_in_time(stamps: list[float], t: float, max_dt: float) -> int | None:
    """Index of the stamp closest to t, or None if none is within max_dt seconds."""
    if not stamps:
        return None
    i = int(np.argmin(np.abs(np.asarray(stamps) - t)))
    return i if abs(stamps[i] - t) <= max_dt else None


@dataclass
class DepthFrame:
    depth_m: np.ndarray      # (H, W) float32 metres, aligned to the colour image
    k: np.ndarray            # 3x3 intrinsics of the colour image


class FramePipeline:
    def __init__(self, estimator, min_person_score: float = 0.0, min_keypoint_score: float = 0.0,
                 tracker: PoseTracker | None = None, depth_window: int = 5):
        self.estimator = estimator
        self.min_person_score = min_person_score
        self.min_keypoint_score = min_keypoint_score
        self.tracker = tracker
        self.depth_window = depth_window
        self._size: tuple[int, int] | None = None

    def warm_up(self, size: tuple[int, int] = (640, 480)) -> None:
        """One inference on a blank frame: the first run of a TF graph is several times slower (tracing,
        allocation), and that must not hit the first camera frame."""
        self.estimator.estimate(np.zeros((size[1], size[0], 3), np.uint8))

    def process(self, bgr: np.ndarray, stamp_s: float, depth: DepthFrame | None = None, color: str = "bgr"):
        """-> (people, timing dict with the estimator's ms under 'total'). color: the image's channel order."""
        people, timing = self.estimator.estimate(bgr, color=color, return_timing=True)
        people = [p for p in people if p.score >= self.min_person_score]
        for p in people:
            low = p.keypoints[:, 2] < self.min_keypoint_score
            p.keypoints[low] = 0.0           # below threshold = not detected (see msg/Keypoint.msg)
        if self.tracker is not None:
            if self._size != bgr.shape[:2]:     # another resolution = another stream: old ids do not apply
                self.tracker.reset()
                self._size = bgr.shape[:2]
            self.tracker.update(people, stamp_s)
        if depth is not None:
            h, w = bgr.shape[:2]
            lift_people(people, depth.depth_m, depth.k, (w, h), window=self.depth_window)
        return people, timing


