"""Crop-and-track for single-pose models on a video stream (what MoveNet's authors recommend for video).

A single-pose network sees the whole frame squeezed into 192 or 256 pixels, so a person far from the
camera gets few pixels. On a stream the previous frame already says where the person is: the next input
is a square crop around the previous frame's confident keypoints, expanded so the person can move and
stretch, and the whole frame (padded to a square) whenever the last pose is not trustworthy.

    tracker = MoveNetCropTracker()
    for frame in stream:
        box = tracker.crop_for(frame.shape)              # (x0, y0, x1, y1) in frame pixels, square
        tensor, transform = crop_input(estimator.preprocessor, frame, box)   # instead of preprocessor(frame)
        people = uncrop_people(codec.decode(runtime(tensor[None]) ...), transform)   # as the estimator does
        tracker.update(people[0] if people else None)

The box may reach outside the frame; cut_square_crop pads with zeros there (like the letterbox).
"""
from __future__ import annotations

import numpy as np

from pose_core.crops import box_from_keypoints, cut_crop
from pose_core.people import Person
from pose_core.preprocess import InputTransform

_TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")


class MoveNetCropTracker:
    """Stateful: remembers the last frame's person and proposes the next crop.

    keypoint_threshold: a keypoint counts as seen above this score.
    torso_scale / body_scale: the crop's half side is the larger of (torso reach x torso_scale) and
    (whole-body reach x body_scale), reach = farthest seen keypoint from the hip centre (per axis).
    The factors 1.9 / 1.2 are the ones MoveNet's authors publish for their crop tracking.
    """

    def __init__(self, keypoint_threshold: float = 0.2, torso_scale: float = 1.9, body_scale: float = 1.2):
        self.keypoint_threshold = float(keypoint_threshold)
        self.torso_scale = float(torso_scale)
        self.body_scale = float(body_scale)
        self._keypoints: np.ndarray | None = None   # (K, 3) last trusted pose, frame pixels
        self._torso_idx: list[int] | None = None

    def reset(self) -> None:
        self._keypoints = None

    @property
    def tracking(self) -> bool:
        """True when the next crop comes from a previous pose rather than the whole frame."""
        return self._keypoints is not None

    def update(self, person: Person | None) -> None:
        """Feed the pose found in the crop (in FRAME pixels), or None when nobody was found. The pose is
        kept only if its torso is visible enough to centre a crop on: at least one shoulder and one hip."""
        if person is None:
            self.reset()
            return
        layout = person.layout
        self._torso_idx = [layout.index(n) for n in _TORSO]
        scores = person.keypoints[:, 2]
        ls, rs, lh, rh = (scores[i] > self.keypoint_threshold for i in self._torso_idx)
        self._keypoints = np.array(person.keypoints, np.float32) if (ls or rs) and (lh or rh) else None

    def crop_for(self, image_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """Square (x0, y0, x1, y1) in frame pixels (x1, y1 exclusive) for the next frame of this shape."""
        h, w = int(image_shape[0]), int(image_shape[1])
        full = _full_frame_square(w, h)
        if self._keypoints is None:
            return full
        box = box_from_keypoints(self._keypoints, self._torso_idx, self.keypoint_threshold,
                                 self.torso_scale, self.body_scale)
        # Never larger than the padded full frame: beyond that the crop only adds padding.
        if box is None or box[2] - box[0] >= full[2] - full[0]:
            return full
        x0, y0 = int(round(box[0])), int(round(box[1]))
        side = max(int(round(box[2] - box[0])), 1)
        return (x0, y0, x0 + side, y0 + side)


def _full_frame_square(w: int, h: int) -> tuple[int, int, int, int]:
    side = max(w, h)
    x0, y0 = (w - side) // 2, (h - side) // 2
    return (x0, y0, x0 + side, y0 + side)


def cut_square_crop(image: np.ndarray, box: tuple[int, int, int, int], size: int
                    ) -> tuple[np.ndarray, InputTransform]:
    """The box's pixels resized to size x size (zeros where the box leaves the image), and the
    InputTransform that maps crop pixels back to frame pixels (pose_core.crops.cut_crop)."""
    x0, y0, x1, y1 = box
    side = float(max(x1 - x0, 1))
    return cut_crop(image, (x0, y0, x0 + side, y0 + side), (size, size))


def crop_input(preprocessor, image: np.ndarray, box: tuple[int, int, int, int], color: str = "bgr"
               ) -> tuple[np.ndarray, InputTransform]:
    """The estimator's hook: like `Preprocessor.__call__` (same tensor layout, channel order, dtype and
    value scaling) but for a square crop box instead of the whole image. Returns (tensor, InputTransform);
    the transform maps the decoded people back to frame pixels exactly as the letterbox one does."""
    size = preprocessor.input_size[0] if preprocessor.input_size else max(box[2] - box[0], 1)
    crop, transform = cut_square_crop(image, box, size)
    # The crop is already size x size: the preprocessor only converts colour order, dtype and scale.
    tensor, _ = preprocessor(crop, (size, size), color)
    return tensor, transform


def uncrop_people(people: list[Person], transform: InputTransform) -> list[Person]:
    """People decoded in crop pixels -> frame pixels (undetected keypoints stay (0, 0, 0))."""
    for p in people:
        seen = p.keypoints[:, 2] > 0
        p.keypoints[seen, :2] = transform.to_image(p.keypoints[seen, :2])
        if p.box is not None:
            (bx0, by0), (bx1, by1) = transform.to_image(np.asarray(p.box, np.float32).reshape(2, 2))
            p.box = (float(bx0), float(by0), float(bx1), float(by1))
    return people
