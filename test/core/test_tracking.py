"""PoseTracker (OKS + Hungarian assignment) and the One-Euro smoother, on synthetic keypoint tracks."""
import numpy as np
import pytest

from pose_core.layouts import COCO17
from pose_core.people import Person
from pose_core.tracking import OneEuroFilter, PoseTracker, keypoint_similarity

RNG = np.random.default_rng(0)
# A standing person's 17 COCO keypoints, ~100 x 200 px, in a plausible arrangement.
BASE = np.array([[50, 20], [55, 15], [45, 15], [60, 18], [40, 18], [70, 50], [30, 50], [80, 90], [20, 90],
                 [85, 120], [15, 120], [62, 120], [38, 120], [62, 170], [38, 170], [62, 215], [38, 215]],
                np.float32)


def person(dx: float, dy: float, noise: float = 0.0, score: float = 0.9) -> Person:
    xy = BASE + [dx, dy] + RNG.normal(0, noise, BASE.shape).astype(np.float32) if noise else BASE + [dx, dy]
    return Person(np.concatenate([xy, np.full((17, 1), score, np.float32)], 1), score, COCO17)


def test_similarity_is_one_for_identical_and_small_for_far_apart():
    a = person(0, 0).keypoints
    assert keypoint_similarity(a, a, COCO17.sigma_array, 100 * 200) == pytest.approx(1.0)
    assert keypoint_similarity(a, person(300, 0).keypoints, COCO17.sigma_array, 100 * 200) < 0.01
    none = a.copy()
    none[:, 2] = 0
    assert keypoint_similarity(a, none, COCO17.sigma_array, 100 * 200) == 0.0


def test_ids_stay_with_people_that_move_and_swap_list_order():
    tracker = PoseTracker()
    ids_a, ids_b = set(), set()
    for t in range(20):
        a, b = person(100 + 3 * t, 50, noise=1.0), person(400 - 3 * t, 60, noise=1.0)
        frame = [a, b] if t % 2 else [b, a]          # detection order must not matter
        tracker.update(frame, t / 30.0)
        ids_a.add(a.track_id)
        ids_b.add(b.track_id)
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_new_person_gets_new_id_and_lost_track_retires_after_max_age():
    tracker = PoseTracker(max_age=2)
    first = person(100, 50)
    tracker.update([first], 0.0)
    for t in range(1, 4):                    # the person leaves for 3 frames > max_age
        tracker.update([], t / 30)
    back = person(100, 50)
    tracker.update([back], 4 / 30)
    assert back.track_id != first.track_id   # ids are never reused
    other = person(500, 50)
    tracker.update([person(100, 50), other], 5 / 30)
    assert other.track_id not in (first.track_id, back.track_id)


def test_dissimilar_detection_does_not_steal_an_existing_id():
    tracker = PoseTracker(min_similarity=0.3)
    a = person(100, 50)
    tracker.update([a], 0.0)
    far = person(600, 300)
    tracker.update([far], 1 / 30)
    assert far.track_id != a.track_id


def test_layout_change_resets_tracks():
    from pose_core.layouts import CROWDPOSE14
    tracker = PoseTracker()
    tracker.update([person(0, 0)], 0.0)
    other = Person(np.ones((14, 3), np.float32), 0.9, CROWDPOSE14)
    tracker.update([other], 0.1)
    assert tracker.num_tracks == 1 and other.track_id == 1


def test_one_euro_reduces_jitter_but_follows_motion():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    noisy = 100 + RNG.normal(0, 2.0, 200)
    out = np.array([f(np.array([x]), i / 30.0)[0] for i, x in enumerate(noisy)])
    assert np.std(out[20:]) < 0.5 * np.std(noisy[20:])
    g = OneEuroFilter(min_cutoff=1.0, beta=1.0)
    ramp = np.array([g(np.array([3.0 * i]), i / 30.0)[0] for i in range(60)])
    assert abs(ramp[-1] - 3.0 * 59) < 10.0     # high beta: little lag on fast motion


def test_smoothing_keeps_undetected_keypoints_at_zero_and_restarts_reappearing_ones():
    tracker = PoseTracker(smoothing=True)
    p0 = person(100, 50)
    p0.keypoints[9] = 0.0                       # left wrist not detected at first
    tracker.update([p0], 0.0)
    p1 = person(100, 50)
    tracker.update([p1], 1 / 30)
    np.testing.assert_allclose(p1.keypoints[9, :2], BASE[9] + [100, 50], atol=1e-3)   # not dragged from 0
    p2 = person(100, 50)
    p2.keypoints[3] = 0.0
    tracker.update([p2], 2 / 30)
    assert (p2.keypoints[3] == 0).all()



def test_replacement_tracker_continues_the_id_numbering():
    first = PoseTracker()
    first.update([person(0, 0), person(300, 0)], 0.0)
    second = PoseTracker(first_id=first.next_id)
    p = person(0, 0)
    second.update([p], 0.1)
    assert p.track_id == 2
