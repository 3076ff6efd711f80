"""The pose node on image/compressed (jpeg and png over a real DDS graph), including corrupt and
oversized compressed frames followed by good ones."""
from __future__ import annotations

import os
import time

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from sensor_msgs.msg import CompressedImage  # noqa: E402

from pose_ros.messages import make_stamp  # noqa: E402

from conftest import ROOT, require  # noqa: E402
from ros_graph import GraphClient, start_node, stop  # noqa: E402

CONFIG = ROOT / "config"
FRAME = "camera_optical"


@pytest.fixture(scope="module")
def graph(models_dir, images_dir, tmp_path_factory):
    os.environ["POSE_MODELS_DIR"] = str(models_dir)
    log = tmp_path_factory.mktemp("pose_node_compressed") / "pose_node.log"
    proc = start_node([CONFIG / "pose_node.yaml", CONFIG / "tf-pose_mobilenet_v2_small.yaml"],
                      {"compressed": True, "publish_annotated": False}, log_path=log)
    client = GraphClient("pose_compressed_test")
    try:
        client.wait_connected(120, proc, compressed=True)
        client.warm_up(cv2.imread(str(images_dir / "p1.jpg")), proc=proc, compressed=True)
        yield client
    finally:
        client.close()
        stop(proc)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("name", ["p2.jpg", "apink1.jpg"])
def test_compressed_frames_give_people_with_header_and_size(graph, images_dir, fmt, name):
    img = cv2.imread(str(require(images_dir / name, "test photo")))
    msg = graph.compressed_msg(img, time.time(), FRAME, fmt)
    result = graph.request(msg)
    assert result is not None
    assert result.header.stamp == msg.header.stamp and result.header.frame_id == FRAME
    assert (result.image_width, result.image_height) == (img.shape[1], img.shape[0])
    assert len(result.persons) >= 1


def bad_compressed() -> dict[str, CompressedImage]:
    big = np.zeros((8000, 8000, 3), np.uint8)                 # 64 MP of black: a small file
    ok, buf = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 50])
    good_jpeg = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()
    return {
        "corrupt jpeg": CompressedImage(format="jpeg", data=good_jpeg[:40] + b"\x00" * 50),
        "not an image": CompressedImage(format="jpeg", data=b"this is not a jpeg at all" * 20),
        "empty": CompressedImage(format="jpeg", data=b""),
        "8000x8000 jpeg": CompressedImage(format="jpeg", data=buf.tobytes()),
    }


@pytest.mark.parametrize("case", list(bad_compressed()))
def test_bad_compressed_then_good_frame_still_served(graph, images_dir, case):
    bad = bad_compressed()[case]
    bad.header.stamp, bad.header.frame_id = make_stamp(time.time()), FRAME
    bad_before = int(graph.latest_diagnostics().get("bad_inputs", 0))
    graph.publish(bad)
    assert graph.result_for(bad.header.stamp, timeout=1.0) is None
    img = cv2.imread(str(images_dir / "p1.jpg"))
    result = graph.request(graph.compressed_msg(img, time.time(), FRAME))
    assert result is not None and len(result.persons) >= 1
    # Not silence by accident (a lost message): the node saw the frame and counted it as bad input.
    assert graph.wait_for(lambda: int(graph.latest_diagnostics().get("bad_inputs", 0)) == bad_before + 1, 10), \
        graph.latest_diagnostics().get("bad_inputs")
