"""Width and height of an encoded image from its header, before anything is decoded.

A decompression bomb (a 400 KB TIFF or PNG of 10000x10000 pixels) costs gigabytes once decoded, so the
pixel limit must be checked on the header. Pillow's Image.open reads only the header (lazy) for every
format OpenCV decodes (PNG, JPEG, WebP, TIFF, BMP, GIF, JPEG 2000, PNM, Sun raster, ...); for the two it
does not know, Radiance HDR and PFM, the size is one text line that we read here.
"""
from __future__ import annotations

import io
import re
import warnings

from PIL import Image, UnidentifiedImageError

from pose_core.errors import ImageError

# Signatures of formats we recognise even when the rest of the header is broken: "corrupt", not "unknown".
SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8": "JPEG", b"BM": "BMP", b"II*\x00": "TIFF",
              b"MM\x00*": "TIFF", b"GIF8": "GIF", b"\x00\x00\x00\x0cjP  ": "JPEG 2000"}
_HDR_SIZE = re.compile(rb"\n\s*[-+]Y\s+(\d+)\s+[-+]X\s+(\d+)\s*\n")
_PFM = re.compile(rb"^P[Ff]\s+(\d+)\s+(\d+)\s")
_BOMB = re.compile(r"\((\d+) pixels\)")


def header_size(data: bytes, what: str = "image") -> tuple[int, int]:
    """(width, height) from the header of an encoded image; ImageError saying "corrupt" for a broken header
    of a known format, "not a readable image" for bytes of no known format."""
    if not data:
        raise ImageError(f"{what} is empty")
    head = bytes(data[:4096])
    if head.startswith(b"#?RADIANCE") or head.startswith(b"#?RGBE"):
        m = _HDR_SIZE.search(head)
        if not m:
            raise ImageError(f"{what} is not a readable image (corrupt Radiance HDR header)")
        return int(m.group(2)), int(m.group(1))
    m = _PFM.match(head)
    if m:
        return int(m.group(1)), int(m.group(2))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # DecompressionBombWarning: we apply our own limit
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except Image.DecompressionBombError as exc:
        # Pillow refuses over ~179 MP before telling the size; its message has the pixel count
        # (returned as N x 1: only the count matters to the limit).
        m = _BOMB.search(str(exc))
        if m:
            return int(m.group(1)), 1
        raise ImageError(f"{what} is too large (over {2 * Image.MAX_IMAGE_PIXELS} pixels per its header)")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, IndexError, TypeError):
        kind = next((name for sig, name in SIGNATURES.items() if head.startswith(sig)), None)
        if kind:
            raise ImageError(f"{what} is not a readable image (corrupt {kind} header)") from None
        raise ImageError(f"{what} is not a readable image (unknown format or corrupt header)") from None


def check_encoded(data: bytes, max_pixels: int, what: str = "image") -> tuple[int, int]:
    """header_size() plus the pixel limit; -> (width, height). Call before decoding."""
    w, h = header_size(data, what)
    if w * h > max_pixels:
        size = f"{w}x{h}" if h > 1 else f"{w} pixels"
        raise ImageError(f"{what} is too large: {size} ({w * h / 1e6:.0f} MP) per its header, over the "
                         f"{max_pixels / 1e6:.0f} MP limit; downscale it first")
    return w, h
