"""Score thresholds have one home each (docs/ros.md "Score thresholds"): codecs only decode; the result
filter (min_person_score / min_keypoint_score) is the estimator's, with the model's own values from its
codec family (Codec.result_filter) unless its zoo entry states others. A lower value given by the user
therefore shows what the model found below the model's values (MoveNet's codec used to drop it first,
whatever the node was told). Real models on the shared photos."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pose_core import zoo
from pose_core.codecs import build_codec
from pose_core.estimators import load_estimator
from pose_core.layouts import COCO17

from conftest import require

MOVENET_VALUE = 0.2          # MoveNet codecs' result_filter: min_person_score and min_keypoint_score


def _read(images_dir, name):
    return cv2.imread(str(require(images_dir / name, f"photo {name}")))


@pytest.fixture(scope="module")
def lightning(models_dir):
    require(models_dir / "movenet", "MoveNet TF.js models")
    return load_estimator("movenet/lightning", models_dir=models_dir)


def test_zoo_states_the_model_values_and_codecs_do_not_filter():
    for name in ("movenet/lightning", "movenet/thunder", "movenet/multipose-lightning"):
        assert zoo.stated_filter(name) == {"min_person_score": MOVENET_VALUE, "min_keypoint_score": MOVENET_VALUE}
        codec_options = zoo.get_spec(name).codec
        assert set(codec_options) == {"name"}                             # no threshold in the entry's codec
        codec = build_codec(codec_options["name"], COCO17)
        assert codec.score_threshold == codec.keypoint_threshold == 0.0   # and none by default
    assert zoo.stated_filter("tf-pose/mobilenet_v2_small") == {"min_person_score": 0.1}
    assert zoo.stated_filter("pose-mobile/cpm") == {}                      # the caller's defaults apply
    # A pipeline: its own person filter; keypoints as its pose model's entry says.
    assert zoo.stated_filter("topdown/yolox-nano+movenet-thunder") == {"min_person_score": 0.1,
                                                                       "min_keypoint_score": MOVENET_VALUE}
    assert zoo.stated_filter("topdown:yolox/nano+movenet/lightning") == {"min_person_score": 0.1,
                                                                         "min_keypoint_score": MOVENET_VALUE}
    assert zoo.stated_filter("topdown:yolox/nano+pose-mobile/cpm") == {"min_person_score": 0.1}


def test_the_zoo_values_apply_by_default(lightning, images_dir):
    assert (lightning.min_person_score, lightning.min_keypoint_score) == (MOVENET_VALUE, MOVENET_VALUE)
    (person,) = lightning(_read(images_dir, "hand1.jpg"))
    scores = person.keypoints[:, 2]
    assert person.score >= MOVENET_VALUE and ((scores == 0) | (scores >= MOVENET_VALUE)).all()
    assert (person.keypoints[scores == 0] == 0).all()                      # not detected = (0, 0, 0)


def test_a_lower_keypoint_threshold_shows_keypoints_the_model_value_hides(lightning, images_dir):
    image = _read(images_dir, "hand1.jpg")
    (strict,) = lightning(image)
    lightning.min_keypoint_score = 0.05           # as the node sets it when the parameter changes
    try:
        (loose,) = lightning(image)
    finally:
        lightning.min_keypoint_score = MOVENET_VALUE
    revealed = (loose.keypoints[:, 2] >= 0.05) & (loose.keypoints[:, 2] < MOVENET_VALUE)
    assert revealed.any() and (strict.keypoints[revealed] == 0).all()
    assert loose.visible.sum() == strict.visible.sum() + revealed.sum()
    seen = strict.visible                         # what both report is the same
    np.testing.assert_array_equal(loose.keypoints[seen], strict.keypoints[seen])
    assert loose.score == strict.score


def test_a_lower_person_threshold_shows_people_the_model_value_hides(models_dir, images_dir):
    require(models_dir / "movenet", "MoveNet TF.js models")
    image = _read(images_dir, "p3.jpg")
    default = load_estimator("movenet/multipose-lightning", models_dir=models_dir)(image)
    loose = load_estimator("movenet/multipose-lightning", models_dir=models_dir, min_person_score=0.01)(image)
    assert len(default) == 3 and all(p.score >= MOVENET_VALUE for p in default)
    low = [p for p in loose if p.score < MOVENET_VALUE]
    assert low and len(loose) == len(default) + len(low)
    higher = load_estimator("movenet/multipose-lightning", models_dir=models_dir, min_person_score=0.5)(image)
    assert 0 < len(higher) < len(default) and all(p.score >= 0.5 for p in higher)


def test_a_pipeline_filters_keypoints_with_the_pose_models_value_unless_told(models_dir, images_dir):
    require(models_dir / "movenet", "MoveNet TF.js models")
    image = _read(images_dir, "p3.jpg")
    name = "topdown/yolox-nano+movenet-lightning"
    strict = load_estimator(name, models_dir=models_dir)(image)
    loose = load_estimator(name, models_dir=models_dir, min_keypoint_score=0.0)(image)
    assert len(strict) == len(loose) >= 3
    kept = np.concatenate([p.keypoints[:, 2] for p in strict])
    assert ((kept == 0) | (kept >= MOVENET_VALUE)).all()
    below = np.concatenate([p.keypoints[:, 2] for p in loose])
    assert ((below > 0) & (below < MOVENET_VALUE)).any()
