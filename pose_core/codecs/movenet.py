"""Codecs for MoveNet's regression outputs (COCO-17, normalised (y, x, score) per keypoint).

MoveNet decodes its centre/heatmap/offset maps inside the graph, so its outputs are already keypoints:
  MultiPose  [6, 56]:   per candidate 17 x (y, x, score), then box (ymin, xmin, ymax, xmax, score)
  SinglePose [1, 17, 3]: one person, (y, x, score)
All coordinates are fractions of the network input (padding included). These codecs turn them into
Person objects in network-input pixels; they do not train (MoveNet's targets are not ours to encode).
"""
from __future__ import annotations

import numpy as np

from pose_core.codecs.base import Codec
from pose_core.layouts import KeypointLayout
from pose_core.people import Person, drop_keypoints


def _to_pixels(normalised: np.ndarray, size: int) -> np.ndarray:
    """MoveNet's fractions of the input's extent (0 = left/top edge, 1 = right/bottom edge) -> pixel
    coordinates with pixel centres at integers (the estimator's InputTransform convention)."""
    return normalised * size - 0.5


def _keypoints_to_pixels(yxs: np.ndarray, input_size: tuple[int, int], keypoint_threshold: float) -> np.ndarray:
    """(K, 3) normalised (y, x, score) -> (K, 3) pixel (x, y, score); below-threshold rows become (0, 0, 0),
    the package-wide convention for 'not detected'."""
    w, h = input_size
    kps = np.stack([_to_pixels(yxs[:, 1], w), _to_pixels(yxs[:, 0], h), yxs[:, 2]], axis=1).astype(np.float32)
    # The model's own confidence cut (the codec's keypoint_threshold), made where the scores are decoded.
    return drop_keypoints(kps, kps[:, 2] < keypoint_threshold)


class _MoveNetCodec(Codec):
    """score_threshold, keypoint_threshold: off (0) by default. MoveNet decodes inside its graph, so these
    would only filter; the filter is the estimator's (result_filter below, or a user's value), so that a
    lower value given by a user is not hidden here. Kept for codec-level use."""

    # MultiPose: its own person score; SinglePose: the mean keypoint score. Below 0.2 a keypoint is a guess.
    result_filter = {"min_person_score": 0.2, "min_keypoint_score": 0.2}

    def __init__(self, layout: KeypointLayout, score_threshold: float = 0.0, keypoint_threshold: float = 0.0):
        if layout.num_keypoints != 17:
            raise ValueError(f"{type(self).__name__} needs a 17-keypoint layout (coco17), got {layout.name}")
        self.layout = layout
        self.score_threshold = float(score_threshold)
        self.keypoint_threshold = float(keypoint_threshold)


class MoveNetMultiPoseCodec(_MoveNetCodec):
    """MoveNet MultiPose: up to 6 people, each with its own box and score. Any input size that is a
    multiple of 32 works; coordinates are fractions of that input."""

    name = "movenet_multipose"

    def decode(self, outputs: list[np.ndarray], input_size: tuple[int, int]) -> list[Person]:
        rows = np.asarray(outputs[0], np.float32).reshape(-1, 56)
        w, h = input_size
        people = []
        for row in rows[np.argsort(-rows[:, 55], kind="stable")]:
            score = float(row[55])
            if score < self.score_threshold:
                continue
            ymin, xmin, ymax, xmax = row[51:55]
            people.append(Person(keypoints=_keypoints_to_pixels(row[:51].reshape(17, 3), input_size,
                                                                self.keypoint_threshold),
                                 score=score, layout=self.layout,
                                 box=(float(_to_pixels(xmin, w)), float(_to_pixels(ymin, h)),
                                      float(_to_pixels(xmax, w)), float(_to_pixels(ymax, h)))))
        return people


class MoveNetSinglePoseCodec(_MoveNetCodec):
    """MoveNet SinglePose (Lightning 192, Thunder 256): exactly one candidate; the person's score is the
    mean keypoint score (the model has no person score), and a person below `score_threshold` is dropped."""

    name = "movenet_singlepose"
    single_person = True          # one person per input: usable on top-down crops

    def decode(self, outputs: list[np.ndarray], input_size: tuple[int, int]) -> list[Person]:
        yxs = np.asarray(outputs[0], np.float32).reshape(17, 3)
        score = float(yxs[:, 2].mean())
        if score < self.score_threshold:
            return []
        return [Person(keypoints=_keypoints_to_pixels(yxs, input_size, self.keypoint_threshold),
                       score=score, layout=self.layout)]

    def average(self, outputs_list: list[list[np.ndarray]]) -> list[np.ndarray]:
        """Mean of several single-pose outputs of the same input (e.g. with a flipped pass)."""
        return [np.mean([np.asarray(o[0], np.float32) for o in outputs_list], axis=0)]

    def flip_back(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        """Output of a mirrored input -> output for the original: x -> 1 - x, left/right swapped."""
        yxs = np.asarray(outputs[0], np.float32)[..., self.layout.flip_permutation, :].copy()
        yxs[..., 1] = 1.0 - yxs[..., 1]
        return [yxs]
