"""A codec owns one output representation end to end (mmpose's idea): decode(network outputs) -> people,
and, for trainable representations, the geometry the training targets are encoded with.

Coordinates: decode() returns keypoints in NETWORK-INPUT pixels (the preprocessed tensor's frame);
the estimator maps them back to original image pixels with the preprocessing transform.
"""
from __future__ import annotations

import abc

import numpy as np

from pose_core.layouts import KeypointLayout
from pose_core.people import Person


class Codec(abc.ABC):
    name: str = ""
    layout: KeypointLayout
    #: True when decode() returns at most one person per input (top-down pipelines need such a model)
    single_person: bool = False
    #: The model family's result filter (min_person_score / min_keypoint_score), applied by the estimator,
    #: never by decode(); a zoo entry may state its own (docs/ros.md "Score thresholds").
    result_filter: dict = {}

    @abc.abstractmethod
    def decode(self, outputs: list[np.ndarray], input_size: tuple[int, int]) -> list[Person]:
        """outputs: one image's runtime outputs (batch axis removed). input_size: (w, h) of the
        network input. Returns people in network-input pixels, best first."""

    def flip_back(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        """Outputs computed on a horizontally flipped input, re-expressed for the unflipped input
        (mirror the maps, swap left/right channels, negate x-components). Used by the flip test."""
        raise NotImplementedError(f"{type(self).__name__} does not support flip test")

    def average(self, outputs_list: list[list[np.ndarray]]) -> list[np.ndarray]:
        """Average several outputs of the same image (flip test, multi-scale) after resizing every map
        to the first one's spatial size."""
        raise NotImplementedError(f"{type(self).__name__} does not support map averaging")
