"""Image -> network input tensor, and the transform that maps network-input pixels back to the image.

Each zoo entry states its preprocessing (established from the graphs and their outputs, docs/models.md):
channel order, value scale/offset, and how the image is fitted to the input (stretch or letterbox).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class InputTransform:
    """(network_xy + 0.5) = (image_xy + 0.5) * scale + pad   (per axis; pixel centres, as cv2.resize)."""
    scale_x: float
    scale_y: float
    pad_x: float = 0.0
    pad_y: float = 0.0

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        out = np.array(xy, np.float32, copy=True)
        out[..., 0] = (out[..., 0] + 0.5 - self.pad_x) / self.scale_x - 0.5
        out[..., 1] = (out[..., 1] + 0.5 - self.pad_y) / self.scale_y - 0.5
        return out


@dataclass(frozen=True)
class Preprocessor:
    input_size: tuple[int, int] | None     # (w, h); None = the image's own size ("native")
    channel_order: str = "rgb"             # what the network wants
    scale: float = 1.0                     # value = pixel * scale + offset
    offset: float = 0.0
    resize: str = "stretch"                # stretch | letterbox
    size_multiple: int = 1                 # native sizes are rounded up to this (the model's stride)
    dtype: np.dtype = np.dtype(np.float32)
    pad_value: int = 0                     # letterbox fill (YOLOX was trained with 114 grey)
    anchor: str = "center"                 # letterbox placement: center | top_left

    @classmethod
    def from_spec(cls, preprocess: dict, input_size, dtype, size_multiple: int = 1) -> "Preprocessor":
        return cls(input_size=None if input_size is None else tuple(input_size),
                   channel_order=preprocess.get("channel_order", "rgb"),
                   scale=float(preprocess.get("scale", 1.0)), offset=float(preprocess.get("offset", 0.0)),
                   resize=preprocess.get("resize", "stretch"), size_multiple=size_multiple,
                   dtype=np.dtype(dtype), pad_value=int(preprocess.get("pad_value", 0)),
                   anchor=preprocess.get("anchor", "center"))

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        if self.input_size is not None:
            return self.input_size
        m = self.size_multiple
        return (math.ceil(width / m) * m, math.ceil(height / m) * m)

    def __call__(self, image: np.ndarray, size: tuple[int, int] | None = None, color: str = "bgr"
                 ) -> tuple[np.ndarray, InputTransform]:
        """image: (H, W, 3) uint8 in colour order `color` ('bgr' or 'rgb'); swapped only when the network
        wants the other order (an RGB frame for an RGB model is never converted)."""
        if color not in ("bgr", "rgb"):
            raise ValueError(f"color must be 'bgr' or 'rgb', not {color!r}")
        h, w = image.shape[:2]
        tw, th = size or self.target_size(w, h)
        if self.resize == "letterbox":
            canvas, transform = letterbox(image, (tw, th), self.pad_value, self.anchor)
        else:
            canvas = _resize(image, tw, th)
            transform = InputTransform(tw / w, th / h)
        if self.channel_order != color:
            canvas = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)       # the same swap either way
        if np.issubdtype(self.dtype, np.integer):
            return canvas.astype(self.dtype), transform
        tensor = canvas.astype(np.float32)
        if self.scale != 1.0 or self.offset != 0.0:
            tensor = tensor * np.float32(self.scale) + np.float32(self.offset)
        return tensor.astype(self.dtype, copy=False), transform


def letterbox(image: np.ndarray, size: tuple[int, int], pad_value: int = 0, anchor: str = "center"
              ) -> tuple[np.ndarray, InputTransform]:
    """`image` scaled to fit size (w, h) with its aspect ratio kept, on a pad_value canvas of the image's
    dtype and channel order; anchor: center | top_left. Also the transform back to image pixels."""
    h, w = image.shape[:2]
    tw, th = size
    s = min(tw / w, th / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    px, py = ((tw - nw) // 2, (th - nh) // 2) if anchor == "center" else (0, 0)
    canvas = np.full((th, tw, 3), pad_value, image.dtype)
    canvas[py:py + nh, px:px + nw] = _resize(image, nw, nh)
    return canvas, InputTransform(nw / w, nh / h, px, py)


def _resize(image: np.ndarray, w: int, h: int) -> np.ndarray:
    if image.shape[1] == w and image.shape[0] == h:
        return image
    # Up to 2:1, bilinear still reads every source pixel. Beyond, area averaging is needed against
    # aliasing, but OpenCV's INTER_AREA is slow at non-integer factors (4 ms for a 1.3k photo): a linear
    # pass to twice the size, then an exact 2:1 area pass, gives the same pixels within ~1 grey level
    # in ~0.3 ms.
    if image.shape[1] <= 2 * w or image.shape[0] <= 2 * h:
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    image = cv2.resize(image, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
