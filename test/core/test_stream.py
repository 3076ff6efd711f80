"""The stream layer (pose_core.stream): stateless estimators, per-stream state, the result filter and
colour order. Real models on real photos."""
import numpy as np
import pytest

from pose_core.defaults import STREAM_DEFAULTS
from pose_core.estimators import load_estimator
from pose_core.image_io import read_image
from pose_core.stream import CropTrackingStream, EstimatorStream, FramePipeline, open_stream, result_filter
from pose_core.tracking import PoseTracker

from conftest import require


@pytest.fixture(scope="module")
def lightning(models_dir):
    return load_estimator("movenet/lightning", models_dir=models_dir)


@pytest.fixture(scope="module")
def photo(images_dir):
    return read_image(require(images_dir / "p2.jpg", "p2.jpg"))


def test_estimator_is_stateless_while_streams_crop_around_their_own_pose(lightning, photo):
    before = lightning(photo)[0].keypoints
    a, b = open_stream(lightning, crop_tracking=True), open_stream(lightning, crop_tracking=True)
    assert isinstance(a, CropTrackingStream) and a.estimator is b.estimator is lightning
    (person,) = a(photo)
    assert a.crop_tracker.tracking and not b.crop_tracker.tracking
    # The shared estimator kept nothing from the stream's frame: the same photo gives the same people.
    np.testing.assert_array_equal(lightning(photo)[0].keypoints, before)
    twin = a.fork()
    assert twin.estimator is lightning and not twin.crop_tracker.tracking
    a.reset()
    assert not a.crop_tracker.tracking


def test_crop_tracking_is_refused_for_a_multi_person_model(models_dir):
    est = load_estimator("tf-pose/mobilenet_v2_small", models_dir=models_dir)
    with pytest.raises(ValueError, match="does not support crop tracking"):
        open_stream(est, crop_tracking=True)
    assert type(open_stream(est)) is EstimatorStream


def test_pipeline_takes_the_colour_order_and_filters_scores(lightning, photo):
    tracker = PoseTracker()
    pipeline = FramePipeline(lightning, tracker=tracker)
    (bgr_person,), timing = pipeline.process(photo, 0.0)
    assert timing["total"] > 0 and bgr_person.track_id == 0
    (rgb_person,), _ = pipeline.process(np.ascontiguousarray(photo[:, :, ::-1]), 0.1, color="rgb")
    np.testing.assert_allclose(rgb_person.keypoints, bgr_person.keypoints, atol=1e-4)
    assert rgb_person.track_id == 0                                          # same person, same id
    scores = bgr_person.keypoints[:, 2]
    cut = float(np.median(scores[scores > 0]))
    shared = pipeline.stream.estimator            # the result filter is the estimator's, for every stream
    saved = shared.min_person_score, shared.min_keypoint_score
    try:
        shared.min_keypoint_score = cut
        (kept,), _ = pipeline.process(photo, 0.2)
        low = bgr_person.keypoints[:, 2] < cut
        assert low.any() and (kept.keypoints[low] == 0).all() and (kept.keypoints[~low, 2] >= cut).all()
        shared.min_person_score = bgr_person.score + 1e-3
        assert pipeline.process(photo, 0.3)[0] == []
    finally:
        shared.min_person_score, shared.min_keypoint_score = saved


def test_result_filter_takes_the_user_then_the_model_then_the_default():
    assert result_filter("movenet/lightning") == {"min_person_score": 0.2, "min_keypoint_score": 0.2}
    assert result_filter("movenet/lightning", 0.0, 0.05) == {"min_person_score": 0.0, "min_keypoint_score": 0.05}
    # a PAF model states a person score only: the keypoint value is the stream default
    assert result_filter("tf-pose/mobilenet_v2_small")["min_keypoint_score"] == STREAM_DEFAULTS["min_keypoint_score"]
