"""The estimator on the seeds' real published models and real photos."""
import cv2
import numpy as np
import pytest

from pose_core.estimator import PoseEstimator
from pose_core.image_io import read_image
from pose_core.layouts import OPENPOSE18, POSEMOBILE14

from conftest import PERSON_PHOTOS


@pytest.fixture(scope="module")
def tfpose(models_dir):
    return PoseEstimator.from_zoo("tf-pose/mobilenet_v2_small", models_dir=models_dir)


@pytest.fixture(scope="module")
def photos(images_dir):
    return {name: read_image(images_dir / name) for name in (*PERSON_PHOTOS, "cat.jpg")}


def _y(person, name):
    if name not in person.layout.keypoints:
        return None
    kp = person.keypoints[person.layout.index(name)]
    return kp[1] if kp[2] > 0 else None


def _anatomy_violations(person):
    """Pairs (upper, lower) that a standing/sitting person has in this vertical order."""
    bad = 0
    for upper, lower in [("head_top", "neck"), ("neck", "right_hip"), ("neck", "left_hip"),
                         ("right_shoulder", "right_knee"), ("left_shoulder", "left_knee"), ("right_hip", "right_ankle"),
                         ("left_hip", "left_ankle"), ("nose", "right_hip"), ("nose", "left_hip")]:
        a, b = _y(person, upper), _y(person, lower)
        bad += a is not None and b is not None and a >= b
    return bad


@pytest.mark.parametrize("name", PERSON_PHOTOS)
def test_multi_person_model_finds_people_in_anatomical_order(tfpose, photos, name):
    image = photos[name]
    people = tfpose(image)
    assert len(people) >= 1
    h, w = image.shape[:2]
    for p in people:
        assert p.layout is OPENPOSE18 and p.keypoints.shape == (18, 3)
        seen = p.keypoints[:, 2] > 0
        assert seen.sum() >= 3
        # original pixels: inside the image, not network-input pixels
        assert (p.keypoints[seen, 0] >= 0).all() and (p.keypoints[seen, 0] < w).all()
        assert (p.keypoints[seen, 1] >= 0).all() and (p.keypoints[seen, 1] < h).all()
        assert (p.keypoints[~seen] == 0).all()
    best = max(people, key=lambda p: p.score)
    assert _anatomy_violations(best) == 0


def test_nobody_on_the_cat(tfpose, photos):
    assert tfpose(photos["cat.jpg"]) == []


def test_keypoints_follow_the_image_when_it_is_resized(tfpose, photos):
    image = photos["p3.jpg"]
    small = image[::2, ::2].copy()
    big_people, small_people = tfpose(image), tfpose(small)
    assert len(big_people) == len(small_people) >= 1
    a = max(big_people, key=lambda p: p.score).keypoints
    b = max(small_people, key=lambda p: p.score).keypoints
    both = (a[:, 2] > 0) & (b[:, 2] > 0)
    # Same network input either way (stretched to 432x368): coordinates scale with the image.
    err = np.abs(a[both, :2] / 2 - b[both, :2])
    assert both.sum() >= 8 and np.median(err) < 1.5 and err.max() < 8.0


def test_gray_rgba_and_16bit_inputs_work(tfpose, photos):
    image = photos["p3.jpg"]
    gray = image.mean(axis=2).astype(np.uint8)
    rgba = np.dstack([image[..., ::-1], np.full(image.shape[:2], 255, np.uint8)])
    sixteen = image.astype(np.uint16) * 257
    n = len(tfpose(image))
    assert len(tfpose(rgba, color="rgb")) == n
    assert len(tfpose(sixteen)) == n
    assert len(tfpose(gray)) >= 1


def test_flip_test_and_multiscale_agree_with_plain(models_dir, photos):
    image = photos["p3.jpg"]
    plain = PoseEstimator.from_zoo("tf-pose/mobilenet_v2_small", models_dir=models_dir)
    fancy = PoseEstimator.from_zoo("tf-pose/mobilenet_v2_small", models_dir=models_dir,
                                   flip_test=True, scales=(1.0, 0.75))
    plain_people = plain(image)
    people, timing = fancy.estimate(image, return_timing=True)
    assert len(people) == len(plain_people) == 3
    for a in (p.keypoints for p in plain_people):
        # The same person (nearest by mean joint distance) has the same joints within 3% of the image
        # size; a left/right swap by the flip would move the side joints much further than that.
        def dist(b):
            both = (a[:, 2] > 0) & (b[:, 2] > 0)
            return np.median(np.abs(a[both, :2] - b[both, :2])) if both.sum() >= 5 else np.inf
        assert min(dist(p.keypoints) for p in people) < 0.03 * max(image.shape[:2])
    assert set(timing) == {"preprocess", "network", "decode", "total"}


def test_native_input_size_runs_at_the_image_size(models_dir, photos):
    est = PoseEstimator.from_zoo("tf-pose/mobilenet_v2_small", models_dir=models_dir, input_size="native")
    assert est.preprocessor.input_size is None
    assert len(est(photos["p2.jpg"])) >= 1


@pytest.mark.parametrize("model", ["pose-mobile/cpm", "pose-mobile/hourglass"])
def test_single_person_keypoints_fall_inside_the_person(models_dir, tfpose, photos, model):
    est = PoseEstimator.from_zoo(model, models_dir=models_dir)
    for name in ("p1.jpg", "apink1.jpg"):   # photos of one person filling the frame
        image = photos[name]
        ref = max(tfpose(image), key=lambda p: p.score)
        x0, y0, x1, y1 = ref.bbox()
        mx, my = 0.25 * (x1 - x0) + 10, 0.25 * (y1 - y0) + 10
        (person,) = est(image)
        assert person.layout is POSEMOBILE14
        seen = person.keypoints[:, 2] > 0
        assert seen.sum() >= 8, f"{model} on {name}: only {seen.sum()} keypoints"
        xy = person.keypoints[seen, :2]
        inside = (xy[:, 0] > x0 - mx) & (xy[:, 0] < x1 + mx) & (xy[:, 1] > y0 - my) & (xy[:, 1] < y1 + my)
        assert inside.mean() >= 0.8, f"{model} on {name}: {xy} outside {(x0, y0, x1, y1)}"
        assert _anatomy_violations(person) == 0


@pytest.mark.parametrize("model", ["pose-mobile/cpm", "pose-mobile/hourglass"])
def test_frozen_graph_and_tflite_of_the_same_model_agree(models_dir, photos, model):
    pb = PoseEstimator.from_zoo(model, runtime="frozen_graph", models_dir=models_dir)
    lite = PoseEstimator.from_zoo(model, runtime="tflite", models_dir=models_dir)
    tensor, _ = pb.preprocessor(photos["p2.jpg"])
    maps_pb, maps_lite = pb.runtime(tensor[None])[0], lite.runtime(tensor[None])[0]
    assert maps_pb.shape == maps_lite.shape
    assert np.abs(maps_pb - maps_lite).max() < 1e-3 * max(1.0, np.abs(maps_pb).max())
    a, b = pb(photos["p2.jpg"])[0].keypoints, lite(photos["p2.jpg"])[0].keypoints
    np.testing.assert_allclose(a, b, atol=0.5)


def test_crop_tracking_follows_a_small_person_across_a_stream(models_dir, photos):
    person = cv2.resize(photos["apink1.jpg"], (240, 360))
    from pose_core.stream import CropTrackingStream

    est = CropTrackingStream(PoseEstimator.from_zoo("movenet/thunder", models_dir=models_dir))
    boxes, hips = [], []
    for step in range(5):
        frame = np.zeros((720, 1280, 3), np.uint8)
        x0 = 300 + 40 * step
        frame[300:660, x0:x0 + 240] = person
        box = est.crop_tracker.crop_for(frame.shape)
        (p,) = est(frame)
        boxes.append(box)
        lh, rh = p.keypoints[p.layout.index("left_hip")], p.keypoints[p.layout.index("right_hip")]
        assert lh[2] > 0.2 and rh[2] > 0.2
        hips.append((lh[0] + rh[0]) / 2)
        # The person's keypoints land on the pasted person, in frame pixels.
        seen = p.keypoints[:, 2] > 0.3
        assert (np.abs(p.keypoints[seen, 0] - (x0 + 120)) < 150).all()
    assert boxes[0][2] - boxes[0][0] == 1280            # first frame: the whole (padded) frame
    assert all(b[2] - b[0] < 700 for b in boxes[1:])    # then crops around the person
    assert np.all(np.diff(hips) > 20)                   # following the 40 px steps
    est.reset()
    assert est.crop_tracker.crop_for((720, 1280, 3))[2] - est.crop_tracker.crop_for((720, 1280, 3))[0] == 1280


def test_keypoints_guessed_in_the_letterbox_padding_are_dropped(models_dir, photos):
    # hand1.jpg is a wide upper-body photo: MoveNet places hips/knees in the padding below the image.
    image = photos["hand1.jpg"]
    (p,) = PoseEstimator.from_zoo("movenet/lightning", models_dir=models_dir)(image)
    h, w = image.shape[:2]
    seen = p.keypoints[:, 2] > 0
    assert seen.sum() >= 5
    assert (p.keypoints[seen, 1] <= h).all() and (p.keypoints[seen, 0] <= w).all()
    assert (p.keypoints[~seen] == 0).all()
