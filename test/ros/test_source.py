"""The source node (own process) publishes an image folder as Image + CompressedImage with the frame_id,
increasing stamps and the photos' own sizes, then exits by itself after max_frames."""
from __future__ import annotations

import time

import cv2
import pytest

pytest.importorskip("rclpy")
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from pose_core.frame_sources import list_images  # noqa: E402
from pose_ros.image_conv import compressed_to_bgr, image_msg_to_bgr  # noqa: E402
from pose_ros.messages import stamp_seconds  # noqa: E402

from ros_graph import start_node, stop  # noqa: E402


def test_source_publishes_folder_with_frame_id_and_rate_then_exits(images_dir, tmp_path):
    import rclpy
    if not rclpy.ok():
        rclpy.init()
    node = Node("source_test_sink")
    raw, comp = [], []
    node.create_subscription(Image, "cam/image", raw.append, 50)
    node.create_subscription(CompressedImage, "cam/image/compressed", comp.append, 50)
    photos = list_images(images_dir)[:5]
    proc = start_node([], {"source": str(images_dir), "rate": 10.0, "frame_id": "test_cam", "topic": "cam/image",
                           "publish_compressed": True, "max_frames": len(photos), "wait_subscribers": 2},
                      module="pose_ros.source_node", log_path=tmp_path / "source.log")
    try:
        end = time.monotonic() + 60
        while (len(raw) < len(photos) or len(comp) < len(photos)) and time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.1)
        assert proc.wait(timeout=30) == 0, (tmp_path / "source.log").read_text()
    finally:
        stop(proc)
        node.destroy_node()
    assert len(raw) == len(comp) == len(photos)
    for msg, cmsg, path in zip(raw, comp, photos):
        expected = cv2.imread(str(path))
        assert msg.header.frame_id == cmsg.header.frame_id == "test_cam" and msg.encoding == "bgr8"
        assert (msg.width, msg.height) == (expected.shape[1], expected.shape[0])
        assert (image_msg_to_bgr(msg) == expected).all()
        assert compressed_to_bgr(cmsg).shape == expected.shape
    stamps = [stamp_seconds(m.header.stamp) for m in raw]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    # 10 Hz: never faster than asked over the run (timer ticks are scheduled, a late tick does not add
    # one), and no stall; per-gap bounds would measure the machine's load, not the node.
    assert stamps[-1] - stamps[0] >= (len(stamps) - 1) * 0.1 - 0.05, gaps
    assert max(gaps) < 5.0, gaps


def test_source_with_missing_input_exits_non_zero(tmp_path):
    proc = start_node([], {"source": str(tmp_path / "nothing_here")}, module="pose_ros.source_node",
                      log_path=tmp_path / "source.log")
    assert proc.wait(timeout=60) != 0
    assert "source not found" in (tmp_path / "source.log").read_text()


def test_int_rate_and_int_webcam_index_are_accepted_as_typed_by_launch_and_ros_args(images_dir, tmp_path):
    """`-p rate:=2` and `-p source:=0` (what pose_demo.launch.py and the docs pass) arrive as INTEGER
    parameters; the node takes them as 2.0 Hz and webcam index 0, not as a type error."""
    log = tmp_path / "source.log"
    proc = start_node([], {"source": str(images_dir), "rate": 2, "max_frames": 1}, module="pose_ros.source_node",
                      log_path=log)
    assert proc.wait(timeout=60) == 0, log.read_text()
    assert "at 2.0 Hz" in log.read_text() and "published 1 frames" in log.read_text()
    # No camera exists here: an int index must get as far as trying to open that webcam.
    log = tmp_path / "webcam.log"
    proc = start_node([], {"source": 7}, module="pose_ros.source_node", log_path=log)
    assert proc.wait(timeout=60) != 0
    text = log.read_text()
    assert "cannot open webcam 7" in text and "expecting type" not in text, text


@pytest.mark.parametrize("params, name", [({"rate": "fast"}, "rate"), ({"rate": 0}, "rate"),
                                          ({"source": -1}, "source"), ({"source": 1.5}, "source")])
def test_badly_typed_source_or_rate_fails_with_one_line_naming_it(tmp_path, params, name):
    log = tmp_path / "source.log"
    proc = start_node([], params, module="pose_ros.source_node", log_path=log)
    assert proc.wait(timeout=60) != 0
    fatal = [line for line in log.read_text().splitlines() if "cannot start" in line]
    assert len(fatal) == 1 and f"parameter '{name}'" in fatal[0], log.read_text()
    assert "Traceback" not in log.read_text()
