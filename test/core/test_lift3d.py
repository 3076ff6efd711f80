"""Depth + K -> 3D keypoints: robust window median, invalid depth values, back-projection, bad intrinsics."""
import numpy as np
import pytest

from pose_core.errors import ImageError
from pose_core.layouts import COCO17
from pose_core.lift3d import backproject, check_intrinsics, depth_to_metres, lift_people, robust_depth, scale_intrinsics
from pose_core.people import Person

K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])


def test_depth_units():
    assert depth_to_metres(np.full((2, 2), 1500, np.uint16))[0, 0] == pytest.approx(1.5)
    assert depth_to_metres(np.full((2, 2), 2.5, np.float32))[0, 0] == pytest.approx(2.5)
    with pytest.raises(ImageError):
        depth_to_metres(np.zeros((2, 2), np.int8))
    with pytest.raises(ImageError):
        depth_to_metres(np.zeros((2, 2, 3), np.uint16))


def test_median_ignores_zero_nan_inf_and_outliers():
    d = np.full((20, 20), 2.0, np.float32)
    d[9:12, 9:12] = [[0, np.nan, np.inf], [2.0, 0, 2.1], [-np.inf, 9.0, 1.9]]
    z = robust_depth(d, np.array([10.0]), np.array([10.0]), window=5)
    assert z[0] == pytest.approx(2.0)
    hole = np.zeros((20, 20), np.float32)
    hole[0, 0] = np.nan
    assert np.isnan(robust_depth(hole, np.array([10.0]), np.array([10.0]), window=5)[0])
    assert np.isnan(robust_depth(d, np.array([-5.0]), np.array([10.0]))[0])   # outside the image


def test_backprojection_of_principal_point_and_offsets():
    xyz = backproject(np.array([320.0, 420.0]), np.array([240.0, 140.0]), np.array([2.0, 2.0]), K)
    np.testing.assert_allclose(xyz[0], [0, 0, 2.0])
    np.testing.assert_allclose(xyz[1], [0.4, -0.4, 2.0], rtol=1e-6)


def test_lift_people_plane_at_known_distance_and_invalid_keypoints():
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0], kp[:, 1], kp[:, 2] = np.linspace(100, 500, 17), np.linspace(50, 400, 17), 0.8
    kp[5] = 0.0                                      # undetected keypoint -> invalid 3D
    depth = np.full((480, 640), 1800, np.uint16)     # 1.8 m plane, 16UC1 mm
    depth[:, :150] = 0                               # a hole: keypoints there have no depth
    p = Person(kp.copy(), 0.9, COCO17)
    lift_people([p], depth_to_metres(depth), K, (640, 480))
    valid = p.keypoints_3d[:, 3] > 0
    assert not valid[5] and not valid[0]             # undetected; in the hole (x=100)
    assert valid[2:5].all() and valid[6:].all()
    np.testing.assert_allclose(p.keypoints_3d[valid, 2], 1.8, rtol=1e-6)
    np.testing.assert_allclose(p.keypoints_3d[valid, 0], (kp[valid, 0] - 320) * 1.8 / 500, rtol=1e-5)


def test_half_resolution_depth_is_sampled_at_scaled_pixels():
    depth = np.full((240, 320), 3.0, np.float32)
    depth[:, 160:] = 1.0                            # right half of the scene at 1 m
    kp = np.array([[100, 100, 0.9], [500, 100, 0.9]] + [[0, 0, 0]] * 15, np.float32)
    p = Person(kp, 0.9, COCO17)
    lift_people([p], depth, K, (640, 480))
    assert p.keypoints_3d[0, 2] == pytest.approx(3.0) and p.keypoints_3d[1, 2] == pytest.approx(1.0)


@pytest.mark.parametrize("k", [np.zeros(9), [np.nan] * 9, [0, 0, 320, 0, 500, 240, 0, 0, 1]])
def test_unusable_intrinsics_raise(k):
    with pytest.raises(ImageError, match="intrinsics"):
        check_intrinsics(np.asarray(k, float))


def test_scale_intrinsics_to_another_resolution():
    k2 = scale_intrinsics(K, (640, 480), (1280, 960))
    np.testing.assert_allclose(k2, [[1000, 0, 640], [0, 1000, 480], [0, 0, 1]])


def test_nearest_in_time_matches_depth_by_stamp():
    from pose_core.stream import nearest_in_time
    assert nearest_in_time([1.0, 1.033, 1.066], 1.04, 0.02) == 1
    assert nearest_in_time([1.0, 1.033], 1.2, 0.05) is None
    assert nearest_in_time([], 1.0, 1.0) is None
