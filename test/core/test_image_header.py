"""Image size from the header, before decoding, for every format OpenCV writes (and so decodes)."""
import cv2
import numpy as np
import pytest

from pose_core.errors import ImageError
from pose_core.image_header import check_encoded, header_size

FORMATS = [".png", ".jpg", ".webp", ".tiff", ".bmp", ".jp2", ".ppm", ".pgm", ".ras", ".gif", ".hdr", ".pfm"]


@pytest.mark.parametrize("ext", FORMATS)
def test_size_of_every_opencv_format_from_its_header(ext):
    img = np.zeros((37, 53, 3), np.uint8)
    if ext in (".hdr", ".pfm"):
        img = img.astype(np.float32)
    if ext == ".pgm":
        img = img[..., 0]
    ok, buf = cv2.imencode(ext, img)
    assert ok
    assert header_size(buf.tobytes()) == (53, 37)
    with pytest.raises(ImageError, match="too large: 53x37"):
        check_encoded(buf.tobytes(), max_pixels=53 * 37 - 1, what="frame")


@pytest.mark.parametrize("data,message", [
    (b"\x89PNG\r\n\x1a\n" + bytes(range(200)), "corrupt PNG"),
    (b"\xff\xd8\xff\xe0" + b"garbage" * 20, "corrupt JPEG"),
    (b"II*\x00" + b"\xff" * 60, "corrupt TIFF"),
    (b"plain text, not an image at all", "not a readable image"),
    (b"", "empty"),
])
def test_broken_headers_say_what_they_are(data, message):
    with pytest.raises(ImageError, match=message) as info:
        header_size(data, "x")
    assert "too large" not in str(info.value) and "\n" not in str(info.value)
