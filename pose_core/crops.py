"""Cutting a person-sized region out of a frame for a single-pose network, and mapping back.

Top-down pose and crop tracking both hand a single-pose network one person at a time: a box around the
person (from a detector or from the last frame's keypoints) is grown to the network input's aspect ratio,
so the person is not distorted, and warped to the input size in one affine step (the box may reach outside
the frame; that part is zero, like the letterbox).
"""
from __future__ import annotations

import cv2
import numpy as np

from pose_core.preprocess import InputTransform


def fit_box(box: tuple[float, float, float, float], aspect: float | None, margin: float = 1.0
            ) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) grown around its centre to width/height = aspect (None: keep its own), then
    scaled by margin."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    if aspect is None:
        pass
    elif w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    w, h = w * margin, h * margin
    return (cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)


def cut_crop(image: np.ndarray, box: tuple[float, float, float, float], size: tuple[int, int]
             ) -> tuple[np.ndarray, InputTransform]:
    """The box's pixels warped to size = (w, h) (zeros outside the image), and the InputTransform mapping
    crop pixels back to frame pixels, with pixel centres aligned like cv2.resize:
    crop_idx + 0.5 = scale * (frame_idx + 0.5 - x0)."""
    x0, y0, x1, y1 = box
    out_w, out_h = size
    sx, sy = out_w / max(x1 - x0, 1e-6), out_h / max(y1 - y0, 1e-6)
    m = np.array([[sx, 0, sx * (0.5 - x0) - 0.5], [0, sy, sy * (0.5 - y0) - 0.5]], np.float64)
    # Shrinking by more than 2x with bilinear sampling aliases; area interpolation reads every pixel.
    flags = cv2.INTER_AREA if min(sx, sy) < 0.5 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(image, m, (out_w, out_h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return crop, InputTransform(sx, sy, -x0 * sx, -y0 * sy)


def box_from_keypoints(keypoints: np.ndarray, torso_idx: list[int], threshold: float,
                       torso_scale: float = 1.9, body_scale: float = 1.2
                       ) -> tuple[float, float, float, float] | None:
    """A square box around a person from its keypoints (MoveNet's crop recipe): centred on the hips, half
    side = max(torso reach x torso_scale, body reach x body_scale), reach = farthest seen keypoint from the
    hip centre per axis. torso_idx: (left_shoulder, right_shoulder, left_hip, right_hip). None when the
    torso is not visible enough (no shoulder or no hip above threshold)."""
    seen = keypoints[:, 2] > threshold
    ls, rs, lh, rh = (bool(seen[i]) for i in torso_idx)
    if not ((ls or rs) and (lh or rh)):
        return None
    hips = [i for i in torso_idx[2:] if seen[i]]
    cx, cy = keypoints[hips, 0].mean(), keypoints[hips, 1].mean()
    torso = [i for i in torso_idx if seen[i]]
    torso_reach = np.abs(keypoints[torso, :2] - (cx, cy)).max()
    body_reach = np.abs(keypoints[seen, :2] - (cx, cy)).max()
    half = float(max(torso_reach * torso_scale, body_reach * body_scale, 1.0))
    return (float(cx) - half, float(cy) - half, float(cx) + half, float(cy) + half)
