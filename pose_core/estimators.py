"""The one place that decides which estimator serves a model name (CLI, Python API, node, bench, eval).

    est = load_estimator("topdown/yolox-nano+movenet-thunder")     # TopDownEstimator
    est = load_estimator("tf-pose/mobilenet_v2_small")              # PoseEstimator
    people = est(image_bgr)

A pose model (zoo entry or exported folder) gives a PoseEstimator; a pipeline name (pose_core/zoo/
topdown.yaml, or `topdown:DETECTOR+POSE_MODEL`) gives a TopDownEstimator. Both take an image and return
people in its pixels, and both have describe() for logs. Both are stateless; on a stream (stream=True, or
crop_tracking=True) the result is a pose_core.stream.EstimatorStream over the estimator: it reads like an
estimator and holds what one video carries from frame to frame (reset(), fork() for another camera).
"""
from __future__ import annotations

import logging
from pathlib import Path

from pose_core import zoo
from pose_core.estimator import PoseEstimator

log = logging.getLogger(__name__)


def load_estimator(name: str, *, runtime: str | None = None, device: str = "cpu", threads: int | None = None,
                   input_size=None, models_dir: str | Path | None = None, download: bool = False,
                   verify: bool = False, flip_test: bool = False, scales: tuple[float, ...] = (1.0,),
                   crop_tracking: bool = False, stream: bool = False, detect_every: int | None = None,
                   min_person_score: float | None = None, min_keypoint_score: float | None = None,
                   **codec_options):
    """stream: frames of one video follow each other (top-down pipelines then detect every N frames and
    track crops in between; detect_every overrides the pipeline's N). crop_tracking: single-pose models on a
    stream crop each frame around the last pose (implies stream). min_person_score, min_keypoint_score: the
    result filter; None = the values the entry states (zoo.stated_filter), else 0 (all decoded). Other
    arguments as PoseEstimator.from_zoo; for a pipeline, runtime/input_size/codec_options apply to its pose
    model."""
    from pose_core.stream import open_stream

    pipeline = zoo.get_pipeline(name)
    if pipeline is None:
        est = PoseEstimator.from_zoo(name, runtime=runtime, device=device, threads=threads,
                                     input_size=input_size, models_dir=models_dir, download=download,
                                     verify=verify, flip_test=flip_test, scales=scales,
                                     min_person_score=min_person_score, min_keypoint_score=min_keypoint_score,
                                     **codec_options)
        return open_stream(est, crop_tracking=crop_tracking) if stream or crop_tracking else est
    from pose_core.detectors import load_detector
    from pose_core.topdown import TopDownEstimator

    if crop_tracking:             # before loading anything (open_stream says the same)
        raise ValueError(f"{name}: crop tracking is for single-pose models; a pipeline tracks its crops itself "
                         f"on a stream (detect_every)")
    if tuple(scales) != (1.0,):
        raise ValueError(f"{name}: multi-scale does not apply to a top-down pipeline (each person is cropped "
                         f"to the pose model's input)")
    if input_size is not None:
        log.warning("%s: the pose model's own input size is used for every crop; ignoring %s", name, input_size)
    common = dict(device=device, threads=threads, models_dir=models_dir, download=download, verify=verify)
    detector = load_detector(pipeline.detector, **common)
    pose = PoseEstimator.from_zoo(pipeline.pose, runtime=runtime, **common,
                                  **{**pipeline.pose_options, **codec_options})
    options = dict(pipeline.options)
    if detect_every is not None:
        options["detect_every"] = int(detect_every)
    # The pipeline filters; its pose model's codec only decodes (the pose estimator's own filter is unused).
    stated = zoo.stated_filter(name)
    options["min_person_score"] = stated.get("min_person_score", 0.0) if min_person_score is None \
        else min_person_score
    options["min_keypoint_score"] = stated.get("min_keypoint_score", 0.0) if min_keypoint_score is None \
        else min_keypoint_score
    est = TopDownEstimator(detector, pose, name=pipeline.name, flip_test=flip_test, **options)
    return open_stream(est) if stream else est
