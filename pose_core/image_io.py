"""Images in: files or arrays of any common kind (BGR/RGB/gray, alpha, uint8/uint16/float) -> BGR uint8,
with clear errors for what cannot be a photo of people."""
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


def to_bgr8(image: np.ndarray, color: str = "bgr", max_pixels: int = MAX_PIXELS,
            what: str = "image") -> np.ndarray:
    """Any (H, W), (H, W, 1|3|4) array of uint8/uint16/float (0..1, or 0..255 when its maximum is over
    1) -> BGR uint8 (H, W, 3).
    color: channel order of 3/4-channel input, 'bgr' or 'rgb'."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageError(f"{what} has shape {image.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if image.size == 0:
        raise ImageError(f"{what} is empty ({image.shape})")
    check_size(image.shape[1], image.shape[0], max_pixels, what)
    image = _to_uint8(image, what)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if color not in ("bgr", "rgb"):
        raise ValueError(f"color must be 'bgr' or 'rgb', not {color!r}")
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR if color == "bgr" else cv2.COLOR_RGBA2BGR)
    return image if color == "bgr" else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def _to_uint8(image: np.ndarray, what: str) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        # Full 16-bit range -> 8 bits (x / 257 maps 65535 to 255 exactly).
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
