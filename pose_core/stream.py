"""Frames in, tracked people out: the ROS-free stream layer under the pose node, `pose video` and the bag tool.

Estimators (PoseEstimator, TopDownEstimator) are stateless: one image in, people out. What carries from one
frame of a video to the next lives here, in one object per stream over a SHARED estimator (several cameras,
one model in memory):

    EstimatorStream      frames of one stream through the estimator (a plain model keeps no state)
    CropTrackingStream   single-pose models: each frame cropped around the last pose (MoveNet's recipe)
    TopDownStream        top-down pipelines: the detector every N frames, crops from tracked keypoints between
    FramePipeline        a stream + track ids / smoothing (PoseTracker) + 3D lift from depth

    stream = open_stream(load_estimator("movenet/thunder"), crop_tracking=True)
    pipeline = FramePipeline(stream, tracker=PoseTracker())
    for t, frame in enumerate(frames):
        people, timing = pipeline.process(frame, t / fps)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose_core import zoo
from pose_core.crop_tracking import MoveNetCropTracker
from pose_core.defaults import STREAM_DEFAULTS
from pose_core.image_io import to_uint8_color
from pose_core.lift3d import lift_people
from pose_core.people import Person
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


# ---------------------------------------------------------------------------------------------- streams
class EstimatorStream:
    """One stream (a video, a camera) over a shared estimator; reads like an estimator (name, layout,
    runtime, describe(), __call__, estimate) so load_estimator(stream=True) callers need not care.
    The estimator's own attributes (detector, pose, preprocessor, ...) are `stream.estimator.<name>`."""

    def __init__(self, estimator):
        self.estimator = estimator
        self.reset()

    def fork(self) -> "EstimatorStream":
        """Another stream over the SAME estimator (networks shared), with these settings and fresh state:
        one per camera."""
        return EstimatorStream(self.estimator)

    def reset(self) -> None:
        """Forget the stream's state before an unrelated image or a new video."""

    def __call__(self, image: np.ndarray, color: str = "bgr") -> list[Person]:
        return self.estimate(image, color=color)

    def estimate(self, image: np.ndarray, color: str = "bgr", return_timing: bool = False):
        return self.estimator.estimate(image, color=color, return_timing=return_timing)

    name = property(lambda self: self.estimator.name)
    layout = property(lambda self: self.estimator.layout)
    runtime = property(lambda self: self.estimator.runtime)

    @property
    def max_pixels(self) -> int:
        return self.estimator.max_pixels

    @max_pixels.setter
    def max_pixels(self, value: int) -> None:     # the shared estimator's: one limit for all its streams
        self.estimator.max_pixels = value

    def describe(self) -> str:
        return self.estimator.describe()


class CropTrackingStream(EstimatorStream):
    """A single-pose model (zoo entries with `crop_tracking: true`) following one person: the next frame's
    input is a square crop around this frame's pose (pose_core.crop_tracking.MoveNetCropTracker)."""

    def __init__(self, estimator):
        if not getattr(estimator, "supports_crop_tracking", False):
            raise ValueError(f"{estimator.name} does not support crop tracking (single-pose models only)")
        self.crop_tracker = MoveNetCropTracker()
        super().__init__(estimator)

    def fork(self) -> "CropTrackingStream":
        return CropTrackingStream(self.estimator)

    def reset(self) -> None:
        self.crop_tracker.reset()

    def estimate(self, image: np.ndarray, color: str = "bgr", return_timing: bool = False):
        # Checked here first: a frame the estimator refuses must not reach the tracker (and the crop is
        # sized from the image the estimator sees). The colour order is kept (converted once, if ever).
        frame, color = to_uint8_color(image, color, max_pixels=self.estimator.max_pixels)
        people, timing = self.estimator.estimate(frame, color=color, return_timing=True,
                                                 crop=self.crop_tracker.crop_for(frame.shape))
        self.crop_tracker.update(people[0] if people else None)
        return (people, timing) if return_timing else people


class TopDownStream(EstimatorStream):
    """A top-down pipeline on a stream: the detector runs on the first frame, every `detect_every` frames and
    whenever a tracked person is lost; in between, crops follow the last frame's keypoints
    (TopDownEstimator.track). detect_every None: the pipeline's own default."""

    def __init__(self, estimator, detect_every: int | None = None):
        self.detect_every = int(estimator.detect_every if detect_every is None else detect_every)
        if self.detect_every < 1:
            raise ValueError("detect_every must be >= 1")
        self.detector_runs = 0          # frames on which the detector ran since the last reset
        super().__init__(estimator)

    def fork(self) -> "TopDownStream":
        return TopDownStream(self.estimator, self.detect_every)

    def reset(self) -> None:
        self._frame = 0
        self._tracks: list[np.ndarray] = []
        self._shape: tuple[int, int] | None = None
        self.detector_runs = 0

    def estimate(self, image: np.ndarray, color: str = "bgr", return_timing: bool = False):
        # A refused frame changes nothing; the colour order is kept (converted once, if ever).
        frame, color = to_uint8_color(image, color, max_pixels=self.estimator.max_pixels)
        if frame.shape[:2] != self._shape:              # another resolution: another stream
            self._tracks, self._frame, self._shape = [], 0, frame.shape[:2]
        tracks = self._tracks if self._frame % self.detect_every != 0 else None
        people, timing, detected = self.estimator.track(frame, tracks, color)
        self.detector_runs += detected
        self._frame += 1
        self._tracks = [p.keypoints.copy() for p in people]
        return (people, timing) if return_timing else people

    def describe(self) -> str:
        mode = f", detect every {self.detect_every} frames" if self.detect_every > 1 else ""
        return self.estimator.describe() + mode


def open_stream(estimator, crop_tracking: bool = False, detect_every: int | None = None) -> EstimatorStream:
    """A new stream over `estimator` (a stream: another one over the same estimator, fresh state, its
    settings unless given). crop_tracking: single-pose models only. detect_every: top-down pipelines only
    (None = the pipeline's default)."""
    if isinstance(estimator, EstimatorStream):
        if not crop_tracking and detect_every is None:
            return estimator.fork()
        estimator = estimator.estimator
    if hasattr(estimator, "track"):                   # a top-down pipeline tracks its crops itself
        if crop_tracking:
            raise ValueError(f"{estimator.name}: crop tracking is for single-pose models; a pipeline tracks its "
                             f"crops itself on a stream (detect_every)")
        return TopDownStream(estimator, detect_every)
    return CropTrackingStream(estimator) if crop_tracking else EstimatorStream(estimator)


def result_filter(model: str, min_person_score: float | None = None,
                  min_keypoint_score: float | None = None) -> dict[str, float]:
    """The result filter a stream's estimator applies (docs/ros.md "Score thresholds"), as keyword arguments
    of load_estimator: the user's value when given, else the model's own (zoo.stated_filter), else
    pose_core.defaults.STREAM_DEFAULTS. The node's parameters and `pose video`'s flags resolve here."""
    given = {"min_person_score": min_person_score, "min_keypoint_score": min_keypoint_score}
    stated = zoo.stated_filter(model)
    return {k: float(given[k]) if given[k] is not None else float(stated.get(k, STREAM_DEFAULTS[k]))
            for k in zoo.FILTER_KEYS}


# ---------------------------------------------------------------------------------------------- pipeline
class FramePipeline:
    """One frame through the chain: stream (estimator, which applies the result filter) -> tracking -> 3D lift.

    estimator: an EstimatorStream (kept: its state is this pipeline's), or an estimator (a stream is opened
    over it). The score thresholds are the estimator's (result_filter above resolves the user's values)."""

    def __init__(self, estimator, tracker: PoseTracker | None = None, depth_window: int = 5):
        self.stream = estimator if isinstance(estimator, EstimatorStream) else open_stream(estimator)
        self.tracker = tracker
        self.depth_window = depth_window
        self._size: tuple[int, int] | None = None

    def warm_up(self, size: tuple[int, int] = (640, 480)) -> None:
        """One inference on a blank frame: the first run of a TF graph is several times slower (tracing,
        allocation), and that must not hit the first camera frame. Stateless: the stream is not touched."""
        self.stream.estimator.estimate(np.zeros((size[1], size[0], 3), np.uint8))

    def process(self, image: np.ndarray, stamp_s: float, depth: DepthFrame | None = None, color: str = "bgr"):
        """image: (H, W, 3|4) or (H, W) array, channels in `color` order ('bgr' or 'rgb') -> (people,
        timing dict with the estimator's ms under 'total')."""
        people, timing = self.stream.estimate(image, color=color, return_timing=True)
        if self.tracker is not None:
            size = np.shape(image)[:2]
            if self._size != size:     # another resolution = another stream: old ids do not apply
                self.tracker.reset()
                self._size = size
            self.tracker.update(people, stamp_s)
        if depth is not None:
            h, w = np.shape(image)[:2]
            lift_people(people, depth.depth_m, depth.k, (w, h), window=self.depth_window)
        return people, timing
