"""sensor_msgs/Image and CompressedImage <-> numpy, without cv_bridge (the PyPI cv-bridge is a broken copy
of ROS 1's under OpenCV 5 / NumPy 2). Honours `step` row padding and `is_bigendian`.

Functions take/return message objects but only touch their fields, so they are testable without a graph.
Every failure raises pose_core.errors.ImageError with a one-line reason.
"""
from __future__ import annotations

import sys

import cv2
import numpy as np

from pose_core.errors import ImageError
from pose_core.image_header import check_encoded
from pose_core.image_io import ENCODINGS, from_encoding  # the one conversion, shared with the library
from pose_core.image_io import MAX_PIXELS as DEFAULT_MAX_PIXELS  # one limit for all inputs


def image_to_numpy(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Image message -> (H, W) or (H, W, C) array in the message's encoding, native byte order. Without row
    padding this is a view of msg.data (keep the message alive while using it), else a copy."""
    enc = msg.encoding
    if enc not in ENCODINGS:
        raise ImageError(f"unsupported image encoding {enc!r} (supported: {', '.join(ENCODINGS)})")
    dtype, channels = ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h == 0 or w == 0:
        raise ImageError(f"empty image ({w}x{h})")
    if h * w > max_pixels:
        raise ImageError(f"image too large: {w}x{h} exceeds {max_pixels} pixels")
    row_bytes = w * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageError(f"step {step} smaller than one row of {w} {enc} pixels ({row_bytes} bytes)")
    data = msg.data
    nbytes = len(data)
    if nbytes < step * h:
        raise ImageError(f"image data has {nbytes} bytes, expected step*height = {step}*{h} = {step * h}")
    try:
        buf = np.frombuffer(data, np.uint8, count=step * h)   # zero-copy for bytes / array.array
    except TypeError:                                           # a plain list
        buf = np.asarray(data, np.uint8)[:step * h]
    shape = (h, w, channels) if channels > 1 else (h, w)
    native = dtype.itemsize == 1 or bool(msg.is_bigendian) == (sys.byteorder == "big")
    if step == row_bytes and native:
        return buf.view(dtype).reshape(shape)                   # the common case: a view, no copy
    rows = np.ascontiguousarray(buf.reshape(h, step)[:, :row_bytes])   # drop row padding
    order = ">" if msg.is_bigendian else "<"
    return rows.view(dtype.newbyteorder(order)).astype(dtype).reshape(shape)


def check_image_msg(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """ImageError unless image_msg_to_array can convert msg. Cheap (header fields and a view, no copy): the node
    runs it on receipt, so a broken frame is counted and never displaces a good one waiting to be served."""
    image_to_numpy(msg, max_pixels)
    if ENCODINGS[msg.encoding][0].kind == "f":
        raise ImageError(f"encoding {msg.encoding!r} is not a colour or mono image")


def image_msg_to_array(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, str]:
    """Image message -> ((H, W, 3) uint8, 'bgr' or 'rgb'), converted once by pose_core.image_io.from_encoding:
    an rgb8 frame stays RGB (a model wanting RGB then gets it with no conversion at all)."""
    return from_encoding(image_to_numpy(msg, max_pixels), msg.encoding)


def image_msg_to_bgr(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    image, order = image_msg_to_array(msg, max_pixels)
    return image if order == "bgr" else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def compressed_to_bgr(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """CompressedImage (any format OpenCV decodes) -> BGR uint8. The size is checked on the header first:
    a decompression bomb would otherwise be allocated in full."""
    raw = bytes(msg.data)                             # bytes(): data may be array.array or list
    if not raw:
        raise ImageError("empty compressed image")
    check_encoded(raw, max_pixels, f"compressed image (format {msg.format!r})")
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(f"corrupt or unsupported compressed image (format {msg.format!r}, {len(raw)} bytes)")
    return img


def numpy_to_image(arr: np.ndarray, encoding: str, msg_type=None, header=None):
    """(H, W[, C]) array -> Image message (step = width * channels * itemsize, little-endian)."""
    if encoding not in ENCODINGS:
        raise ImageError(f"unsupported image encoding {encoding!r}")
    dtype, channels = ENCODINGS[encoding]
    arr = np.ascontiguousarray(arr, dtype=dtype.newbyteorder("<"))
    if arr.ndim != (3 if channels > 1 else 2) or (channels > 1 and arr.shape[2] != channels):
        raise ImageError(f"array of shape {arr.shape} does not match encoding {encoding}")
    if msg_type is None:
        from sensor_msgs.msg import Image as msg_type
    msg = msg_type()
    if header is not None:
        msg.header = header
    msg.height, msg.width = arr.shape[:2]
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = arr.shape[1] * channels * dtype.itemsize
    msg.data = arr.tobytes()
    return msg


def bgr_to_compressed(img: np.ndarray, fmt: str = "jpeg", quality: int = 90, header=None):
    from sensor_msgs.msg import CompressedImage
    ext = ".png" if fmt == "png" else ".jpg"
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise ImageError(f"could not encode image as {fmt}")
    msg = CompressedImage(format=fmt, data=buf.tobytes())
    if header is not None:
        msg.header = header
    return msg
