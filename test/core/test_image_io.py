"""Images of every kind in, BGR uint8 out; bad images give one clear ImageError."""
import cv2
import numpy as np
import pytest

from pose_core.errors import ImageError
from pose_core.image_io import read_image, to_bgr8


def test_gray_rgba_16bit_and_rgb_become_bgr8():
    bgr = np.zeros((20, 30, 3), np.uint8)
    bgr[..., 0] = 200  # blue
    assert to_bgr8(bgr).shape == (20, 30, 3)
    assert to_bgr8(bgr[..., ::-1], "rgb")[0, 0, 0] == 200
    rgba = np.dstack([bgr[..., ::-1], np.full((20, 30), 255, np.uint8)])
    assert to_bgr8(rgba, "rgb")[0, 0].tolist() == [200, 0, 0]
    gray16 = np.full((20, 30), 65535, np.uint16)
    out = to_bgr8(gray16)
    assert out.dtype == np.uint8 and out.shape == (20, 30, 3) and out.max() == 255


def test_files_of_every_kind_read(tmp_path):
    img16 = (np.linspace(0, 65535, 40 * 50).reshape(40, 50)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), img16)
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 2] = 255
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    out = read_image(tmp_path / "g16.png")
    assert out.shape == (40, 50, 3) and out[-1, -1, 0] == 255
    assert read_image(tmp_path / "rgba.png")[0, 0].tolist() == [0, 0, 255]


@pytest.mark.parametrize("case,message", [
    ("empty", "empty"), ("corrupt", "not a readable image"), ("directory", "directory"),
    ("tiny", "1x1"), ("missing", "cannot read"), ("huge", "MP limit")])
def test_bad_image_files_raise_one_clear_line(tmp_path, case, message):
    path = tmp_path / "x.png"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "corrupt":
        path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 10)
    elif case == "directory":
        path = tmp_path
    elif case == "tiny":
        cv2.imwrite(str(path), np.zeros((1, 1, 3), np.uint8))
    elif case == "huge":
        # 10000x10000 encodes to a small PNG; the size check runs before a full decode.
        cv2.imwrite(str(path), np.zeros((10000, 10000), np.uint8))
    with pytest.raises(ImageError, match=message) as info:
        read_image(path)
    assert "\n" not in str(info.value)


def test_bad_arrays_raise():
    with pytest.raises(ImageError, match="shape"):
        to_bgr8(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ImageError, match="NaN"):
        to_bgr8(np.full((10, 10, 3), np.nan, np.float32))
    with pytest.raises(ImageError, match="empty|at least"):
        to_bgr8(np.zeros((0, 10, 3), np.uint8))
