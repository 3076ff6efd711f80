"""2D keypoints + aligned depth image + pinhole intrinsics -> 3D keypoints in the camera optical frame. ROS-free.

Depth per keypoint is the median of the valid depths in a small window around it: single depth pixels at
joints are often holes (0), NaN or inf (sensor shadows, edges), and a median ignores those and the
background leaking in at silhouette edges.
"""
from __future__ import annotations

import numpy as np

from pose_core.errors import ImageError
from pose_core.people import Person


def depth_to_metres(depth: np.ndarray) -> np.ndarray:
    """uint16 depth in millimetres (the 16UC1 convention) or float depth in metres -> float32 metres."""
    if depth.ndim != 2:
        raise ImageError(f"depth image must be single-channel, got shape {depth.shape}")
    if depth.dtype == np.uint16:
        return depth.astype(np.float32) * 0.001
    if np.issubdtype(depth.dtype, np.floating):
        return depth.astype(np.float32, copy=False)
    raise ImageError(f"depth image must be uint16 (mm) or float (m), got {depth.dtype}")


# Focal lengths of real cameras, in pixels: a fisheye at 320x240 has ~100, a telephoto at 8K ~10^5.
# Outside [MIN_FOCAL, MAX_FOCAL] a K is a driver bug (fx = 1e-300 gave positions of -inf, marked valid).
MIN_FOCAL, MAX_FOCAL = 1.0, 1e7


def check_intrinsics(k: np.ndarray) -> np.ndarray:
    """Return K as a 3x3 float64 matrix; raises ImageError unless it is finite with MIN_FOCAL <= fx, fy <=
    MAX_FOCAL and the principal point within MAX_FOCAL pixels (e.g. all zeros, 1e-300, NaN)."""
    k = np.asarray(k, np.float64).reshape(3, 3)
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    if (not np.all(np.isfinite(k)) or not (MIN_FOCAL <= fx <= MAX_FOCAL and MIN_FOCAL <= fy <= MAX_FOCAL)
            or max(abs(cx), abs(cy)) > MAX_FOCAL):
        raise ImageError(f"camera intrinsics unusable (fx={fx:g}, fy={fy:g}, cx={cx:g}, cy={cy:g}): need "
                         f"{MIN_FOCAL:g} <= fx, fy <= {MAX_FOCAL:g} pixels")
    return k


def scale_intrinsics(k: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """K of a camera calibrated at from_size (w, h), for the same camera delivering to_size images."""
    sx, sy = to_size[0] / float(from_size[0]), to_size[1] / float(from_size[1])
    return np.diag([sx, sy, 1.0]) @ np.asarray(k, np.float64).reshape(3, 3)


def robust_depth(depth_m: np.ndarray, u: np.ndarray, v: np.ndarray, window: int = 5,
                 min_depth: float = 0.05, max_depth: float = 50.0) -> np.ndarray:
    """Median of valid depths in a window x window patch around each (u, v) pixel; NaN where none is valid.
    Valid = finite and within [min_depth, max_depth] (0 is the usual "no reading" value)."""
    h, w = depth_m.shape
    half = max(int(window) // 2, 0)
    out = np.full(len(u), np.nan, np.float32)
    for i, (x, y) in enumerate(zip(np.round(u).astype(np.int64), np.round(v).astype(np.int64))):
        if not (0 <= x < w and 0 <= y < h):
            continue
        patch = depth_m[max(y - half, 0):y + half + 1, max(x - half, 0):x + half + 1]
        good = patch[np.isfinite(patch) & (patch >= min_depth) & (patch <= max_depth)]
        if good.size:
            out[i] = np.median(good)
    return out


def backproject(u: np.ndarray, v: np.ndarray, z: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Pinhole back-projection of pixels (u, v) at depth z (metres) -> (N, 3) X, Y, Z in the optical frame
    (x right, y down, z forward)."""
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    return np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=-1).astype(np.float32)


def lift_people(people: list[Person], depth_m: np.ndarray, k: np.ndarray, image_size: tuple[int, int],
                window: int = 5, min_score: float = 0.0, min_depth: float = 0.05,
                max_depth: float = 50.0) -> list[Person]:
    """Fill `person.keypoints_3d` ((K, 4): X, Y, Z, valid) for every person, in place.

    image_size (w, h) is the colour image the keypoints are in; K must belong to that image. The depth
    image is aligned to it but may have another resolution (keypoints are scaled into its pixel grid).
    """
    k = check_intrinsics(k)
    w, h = image_size
    sx, sy = depth_m.shape[1] / float(w), depth_m.shape[0] / float(h)
    for person in people:
        kp = person.keypoints
        # Pixel coordinates follow OpenCV/ROS (pixel i's centre at i), like K's principal point.
        z = robust_depth(depth_m, kp[:, 0] * sx, kp[:, 1] * sy, window, min_depth, max_depth)
        valid = np.isfinite(z) & (kp[:, 2] > min_score)
        xyz = backproject(kp[:, 0], kp[:, 1], np.where(valid, z, 0.0), k)
        valid &= np.isfinite(xyz).all(axis=1)     # never a non-finite position marked valid
        person.keypoints_3d = np.concatenate([np.where(valid[:, None], xyz, 0.0),
                                              valid[:, None].astype(np.float32)], axis=1)
    return people
