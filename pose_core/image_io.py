"""Images in: files or arrays of any common kind (BGR/RGB/gray, alpha, uint8/uint16/float) -> 3-channel uint8,
with clear errors for what cannot be a photo of people. The ONE image conversion of the project: the library
(to_bgr8, to_uint8_color) and the ROS node (from_encoding, via pose_ros.image_conv) both use it.

Colour order is kept where it can be: an RGB frame stays RGB (to_uint8_color / from_encoding say which
order they return) so that a model wanting RGB gets it without a round trip through BGR.

16-bit single-channel images (mono16, 16UC1, 16-bit gray files) are stretched from the frame's own minimum
to its maximum: IR and thermal cameras use a small part of the 16-bit range, and a fixed x/257 scaling
makes their frames nearly black. A flat frame (no range) keeps its absolute level (x/257). 16-bit colour
keeps the full range (a per-frame stretch would shift its colours).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pose_core.errors import ImageError
from pose_core.image_header import check_encoded

MIN_SIDE = 8                 # smaller cannot hold a recognisable person at any model's stride
MAX_PIXELS = 50_000_000      # ~50 MP: beyond this, decoding alone takes seconds and GBs


def read_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file keeping bit depth and alpha; returns BGR uint8 (H, W, 3)."""
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path} is a directory, not an image")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data.size == 0:
        raise ImageError(f"{path} is empty")
    check_encoded(data.tobytes(), max_pixels, str(path))    # from the header: no decompression bomb
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError(f"{path} is not a readable image (corrupt or unsupported format)")
    return to_bgr8(image, "bgr", max_pixels=max_pixels, what=str(path))


def check_size(width: int, height: int, max_pixels: int = MAX_PIXELS, what: str = "image") -> None:
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"{what} is {width}x{height}; need at least {MIN_SIDE}x{MIN_SIDE} pixels")
    if width * height > max_pixels:
        raise ImageError(f"{what} is {width}x{height} ({width * height / 1e6:.0f} MP), over the "
                         f"{max_pixels / 1e6:.0f} MP limit; downscale it first")


# ROS / OpenCV encoding names -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3), "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4), "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1), "8UC1": (np.dtype(np.uint8), 1), "8UC3": (np.dtype(np.uint8), 3),
    "mono16": (np.dtype(np.uint16), 1), "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
# Colour order of each convertible encoding's pixels (single-channel ones become BGR gray).
_ORDER = {"rgb8": "rgb", "rgba8": "rgb", "bgr8": "bgr", "bgra8": "bgr", "8UC3": "bgr",
          "mono8": "bgr", "8UC1": "bgr", "mono16": "bgr", "16UC1": "bgr"}


def from_encoding(arr: np.ndarray, encoding: str, what: str = "image") -> tuple[np.ndarray, str]:
    """A camera frame in a named encoding (the array as the message holds it) -> ((H, W, 3) uint8, 'bgr' or
    'rgb'), converted once: bgr8/rgb8 come back as the same array, unconverted. Sizes are the caller's
    check (pose_ros.image_conv on receipt, the estimator before inference)."""
    if encoding not in ENCODINGS:
        raise ImageError(f"unsupported image encoding {encoding!r} (supported: {', '.join(ENCODINGS)})")
    if encoding not in _ORDER:
        raise ImageError(f"encoding {encoding!r} is not a colour or mono image")
    dtype, channels = ENCODINGS[encoding]
    image = np.asarray(arr)
    if image.dtype != dtype or (image.ndim == 3 and image.shape[2] != channels) or (channels == 1) != (
            image.ndim == 2):
        raise ImageError(f"{what}: array {image.dtype} {image.shape} does not match encoding {encoding}")
    return _convert(image, _ORDER[encoding], what)


def to_bgr8(image: np.ndarray, color: str = "bgr", max_pixels: int = MAX_PIXELS,
            what: str = "image") -> np.ndarray:
    """Any (H, W), (H, W, 1|3|4) array of uint8/uint16/float (0..1, or 0..255 when its maximum is over
    1) -> BGR uint8 (H, W, 3).
    color: channel order of 3/4-channel input, 'bgr' or 'rgb'."""
    image, order = to_uint8_color(image, color, max_pixels, what)
    return image if order == "bgr" else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def to_uint8_color(image: np.ndarray, color: str = "bgr", max_pixels: int = MAX_PIXELS,
                   what: str = "image") -> tuple[np.ndarray, str]:
    """As to_bgr8, keeping the colour order of 3/4-channel input: -> ((H, W, 3) uint8, 'bgr' or 'rgb').
    A (H, W, 3) uint8 image comes back as the same array; gray becomes BGR."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageError(f"{what} has shape {image.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if image.size == 0:
        raise ImageError(f"{what} is empty ({image.shape})")
    check_size(image.shape[1], image.shape[0], max_pixels, what)
    return _convert(image, color, what)


def _convert(image: np.ndarray, color: str, what: str) -> tuple[np.ndarray, str]:
    if color not in ("bgr", "rgb"):
        raise ValueError(f"color must be 'bgr' or 'rgb', not {color!r}")
    image = _to_uint8(image, what)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), "bgr"
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR if color == "bgr" else cv2.COLOR_RGBA2RGB), color
    return image, color


def mono16_to_8(image: np.ndarray) -> np.ndarray:
    """(H, W) uint16 -> uint8, stretched from the frame's minimum to its maximum (module docstring)."""
    lo, hi = int(image.min()), int(image.max())
    if hi == lo:                               # no range to stretch: keep the absolute level
        return (image.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    return ((image.astype(np.int64) - lo) * 255 // (hi - lo)).astype(np.uint8)     # exact: lo -> 0, hi -> 255


def _to_uint8(image: np.ndarray, what: str) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        if image.ndim == 2:
            return mono16_to_8(image)
        # 16-bit colour: the full range -> 8 bits (x / 257 maps 65535 to 255 exactly).
        return (image.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise ImageError(f"{what} contains NaN or infinite values")
        # Float images come as 0..1 (OpenCV/skimage convention) or 0..255 (a uint8 image cast to float).
        # Decide by the data: clipping 0..255 values to 0..1 gives an all-white image and 0 people.
        lo, hi = float(image.min()), float(image.max())
        full = 255.0 if hi > 1.0 else 1.0
        if hi > 255.0 * 1.01 or lo < -0.01 * full:
            raise ImageError(f"{what} is a float image with values {lo:g}..{hi:g}; expected 0..1 or 0..255")
        return (np.clip(image * (255.0 / full), 0.0, 255.0) + 0.5).astype(np.uint8)
    raise ImageError(f"{what} has unsupported pixel type {image.dtype}")
