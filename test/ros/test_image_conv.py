"""sensor_msgs Image/CompressedImage <-> numpy (our cv_bridge replacement): every encoding, row padding,
big-endian data and each malformed message (typed ImageError with a one-line reason). The node's conversion
is the library's (pose_core.image_io), done once: an rgb8 frame reaches an RGB model unconverted."""
import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from pose_core.errors import ImageError
from pose_core.estimators import load_estimator
from pose_core.image_io import to_bgr8
from pose_ros.image_conv import (
    bgr_to_compressed,
    check_image_msg,
    compressed_to_bgr,
    image_msg_to_array,
    image_msg_to_bgr,
    image_to_numpy,
    numpy_to_image,
)

from conftest import require

RNG = np.random.default_rng(1)
BGR = RNG.integers(0, 256, (7, 5, 3), dtype=np.uint8)


def padded(arr: np.ndarray, encoding: str, pad: int, bigendian: bool = False) -> Image:
    """An Image whose rows carry `pad` extra bytes (as many drivers emit), optionally big-endian."""
    if bigendian:
        arr = arr.astype(arr.dtype.newbyteorder(">"))
    h = arr.shape[0]
    rows = arr.reshape(h, -1).view(np.uint8).reshape(h, -1)
    data = np.concatenate([rows, np.full((h, pad), 0xAB, np.uint8)], axis=1)
    return Image(height=h, width=arr.shape[1], encoding=encoding, is_bigendian=int(bigendian),
                 step=data.shape[1], data=data.tobytes())


@pytest.mark.parametrize("encoding,make", [
    ("bgr8", lambda: BGR), ("rgb8", lambda: BGR[..., ::-1]),
    ("bgra8", lambda: np.dstack([BGR, np.full(BGR.shape[:2], 7, np.uint8)])),
    ("rgba8", lambda: np.dstack([BGR[..., ::-1], np.full(BGR.shape[:2], 7, np.uint8)])),
])
@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings_give_the_same_bgr(encoding, make, pad):
    msg = padded(np.ascontiguousarray(make()), encoding, pad)
    np.testing.assert_array_equal(image_msg_to_bgr(msg), BGR)


@pytest.mark.parametrize("encoding,dtype", [("mono8", np.uint8), ("mono16", np.uint16), ("16UC1", np.uint16),
                                            ("32FC1", np.float32)])
@pytest.mark.parametrize("bigendian", [False, True])
def test_single_channel_roundtrip_with_padding_and_byte_order(encoding, dtype, bigendian):
    arr = (RNG.random((6, 9)) * 60000).astype(dtype) if dtype != np.uint8 else BGR[..., 0].copy()
    out = image_to_numpy(padded(arr, encoding, 5, bigendian))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_mono16_to_bgr_uses_the_frame_range():
    arr = np.array([[1000, 3000]], np.uint16)
    bgr = image_msg_to_bgr(numpy_to_image(arr, "mono16"))
    assert bgr.shape == (1, 2, 3) and bgr[0, 0, 0] == 0 and bgr[0, 1, 0] == 255


def test_numpy_to_image_roundtrip_fields():
    msg = numpy_to_image(BGR, "bgr8")
    assert (msg.width, msg.height, msg.step, msg.encoding) == (5, 7, 15, "bgr8")
    np.testing.assert_array_equal(image_to_numpy(msg), BGR)
    with pytest.raises(ImageError):
        numpy_to_image(BGR, "mono8")


@pytest.mark.parametrize("msg,match", [
    (Image(height=2, width=2, encoding="yuv422", step=4, data=bytes(8)), "unsupported image encoding"),
    (Image(height=0, width=0, encoding="bgr8", step=0, data=b""), "empty image"),
    (Image(height=2, width=4, encoding="bgr8", step=6, data=bytes(12)), "step 6 smaller"),
    (Image(height=4, width=4, encoding="bgr8", step=12, data=bytes(20)), "expected step\\*height"),
    (Image(height=8000, width=8000, encoding="mono8", step=8000, data=b""), "too large"),
])
def test_malformed_images_raise_one_line_errors(msg, match):
    with pytest.raises(ImageError, match=match) as e:
        image_msg_to_bgr(msg)
    assert "\n" not in str(e.value)
    with pytest.raises(ImageError, match=match):          # the node's check on receipt says the same
        check_image_msg(msg)


def test_check_on_receipt_accepts_what_converts_and_refuses_depth():
    for msg in (padded(BGR, "bgr8", 3), numpy_to_image(BGR[..., 0].copy(), "mono8"),
                numpy_to_image(np.zeros((3, 4), np.uint16), "16UC1")):
        check_image_msg(msg)
        image_msg_to_bgr(msg)
    depth = numpy_to_image(np.zeros((3, 4), np.float32), "32FC1")
    with pytest.raises(ImageError, match="not a colour or mono image"):
        check_image_msg(depth)
    with pytest.raises(ImageError, match="not a colour or mono image"):
        image_msg_to_bgr(depth)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_roundtrip(fmt):
    img = cv2.resize(BGR, (64, 48), interpolation=cv2.INTER_NEAREST)
    out = compressed_to_bgr(bgr_to_compressed(img, fmt))
    assert out.shape == img.shape
    if fmt == "png":
        np.testing.assert_array_equal(out, img)


def test_corrupt_empty_and_oversized_compressed():
    with pytest.raises(ImageError, match="corrupt"):
        compressed_to_bgr(CompressedImage(format="jpeg", data=b"\xff\xd8\xff\xe0garbage" * 10))
    with pytest.raises(ImageError, match="empty"):
        compressed_to_bgr(CompressedImage(format="jpeg", data=b""))
    big = bgr_to_compressed(np.zeros((8000, 8000, 3), np.uint8), "jpeg")   # 64 MP, tiny file
    with pytest.raises(ImageError, match="too large"):
        compressed_to_bgr(big)
    big_png = bgr_to_compressed(np.zeros((8000, 8000, 3), np.uint8), "png")
    with pytest.raises(ImageError, match="too large"):
        compressed_to_bgr(big_png)


# ------------------------------------------------------------------------------- one conversion, done once
@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
@pytest.mark.parametrize("bigendian", [False, True])
def test_mono16_through_the_node_equals_the_library(encoding, bigendian):
    """One rule for 16-bit gray (the frame's own min..max, as IR/thermal cameras need) on both paths."""
    arr = (1000 + RNG.random((12, 16)) * 3000).astype(np.uint16)       # a narrow band, as IR cameras give
    node = image_msg_to_bgr(padded(arr, encoding, 4, bigendian))
    np.testing.assert_array_equal(node, to_bgr8(arr))
    assert node.min() == 0 and node.max() == 255
    flat = np.full((12, 16), 30000, np.uint16)                          # no range: its absolute level
    np.testing.assert_array_equal(image_msg_to_bgr(numpy_to_image(flat, encoding)), to_bgr8(flat))
    assert to_bgr8(flat).max() == 30000 * 255 // 65535


def test_rgb8_stays_rgb_and_bgr8_stays_bgr_without_a_copy():
    for encoding, arr, order in (("rgb8", BGR[..., ::-1], "rgb"), ("bgr8", BGR, "bgr")):
        msg = numpy_to_image(np.ascontiguousarray(arr), encoding)
        image, color = image_msg_to_array(msg)
        assert color == order and np.shares_memory(image, image_to_numpy(msg))    # the message's own pixels
        np.testing.assert_array_equal(image, arr)


class RecordingPreprocessor:
    """The real preprocessor, recording what it is handed (the image object and its colour order)."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def __call__(self, image, size=None, color="bgr"):
        self.calls.append((image, color))
        return self.real(image, size, color)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.mark.parametrize("model", ["movenet/lightning", "pose-mobile/cpm"])     # wants RGB / wants BGR
def test_rgb8_and_bgr8_messages_give_the_same_people(models_dir, images_dir, model):
    photo = cv2.imread(str(require(images_dir / "p1.jpg", "test photo")))
    require(models_dir / model.split("/")[0], model)
    est = load_estimator(model, models_dir=models_dir)
    est.preprocessor = RecordingPreprocessor(est.preprocessor)
    people = {}
    for encoding, pixels in (("bgr8", photo), ("rgb8", np.ascontiguousarray(photo[..., ::-1]))):
        msg = numpy_to_image(pixels, encoding)
        image, color = image_msg_to_array(msg)
        people[encoding] = est.estimate(image, color=color)
        handed, handed_color = est.preprocessor.calls[-1]
        # Converted once at most: the preprocessor gets the message's pixels as they came, with their order,
        # and swaps channels itself only when the network wants the other order.
        assert handed_color == color and np.shares_memory(handed, image_to_numpy(msg))
    assert len(people["bgr8"]) == len(people["rgb8"]) == 1
    for a, b in zip(people["bgr8"], people["rgb8"]):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        assert a.score == b.score
    assert est.preprocessor.channel_order in ("rgb", "bgr")


@pytest.mark.parametrize("model,crop_tracking", [("topdown/yolox-nano+movenet-lightning", False),
                                                 ("movenet/lightning", True)])
def test_streams_keep_the_colour_order_of_the_message(models_dir, images_dir, model, crop_tracking):
    """The node's streams (top-down pipeline, MoveNet crop tracking) hand the pose network's preprocessor an
    rgb8 frame as RGB, on detection frames and tracked frames alike: no BGR round trip in between."""
    from pose_core.stream import open_stream

    photo = cv2.imread(str(require(images_dir / "p1.jpg", "test photo")))
    est = load_estimator(model, models_dir=models_dir)
    pose = getattr(est, "pose", est)                        # a pipeline's single-pose model
    pose.preprocessor = RecordingPreprocessor(pose.preprocessor)
    people = {}
    for encoding, pixels in (("bgr8", photo), ("rgb8", np.ascontiguousarray(photo[..., ::-1]))):
        stream = open_stream(est, crop_tracking=crop_tracking)
        image, color = image_msg_to_array(numpy_to_image(pixels, encoding))
        pose.preprocessor.calls.clear()
        people[encoding] = [stream(image, color) for _ in range(3)]     # detection, then tracked frames
        assert pose.preprocessor.calls and {c for _, c in pose.preprocessor.calls} == {color}
    for frame_bgr, frame_rgb in zip(people["bgr8"], people["rgb8"]):
        assert len(frame_bgr) == len(frame_rgb) >= 1
        for a, b in zip(frame_bgr, frame_rgb):
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)
