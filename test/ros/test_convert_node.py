"""An imported model served by the pose node: `pose import tfpose` output given as the node's `model`
parameter (a folder with model.yaml), over a real DDS graph, finds the same people as the estimator."""
from __future__ import annotations

import time

import cv2
import pytest

rclpy = pytest.importorskip("rclpy")
from conftest import PERSON_PHOTOS, ROOT, require  # noqa: E402
from ros_graph import GraphClient, start_node, stop  # noqa: E402


@pytest.fixture(scope="module")
def imported_dir(models_dir, tmp_path_factory):
    from pose_core.cli import main
    out = tmp_path_factory.mktemp("imported") / "tfpose"
    graph = require(models_dir / "tf-pose/mobilenet_v2_small/graph_opt.pb", "tf-pose frozen graph")
    assert main(["import", "tfpose", str(graph), "--out", str(out), "--no-check"]) == 0
    return out


def test_node_serves_the_imported_model(imported_dir, images_dir, tmp_path):
    from pose_core.estimator import PoseEstimator

    log = tmp_path / "pose_node.log"
    proc = start_node([ROOT / "config" / "pose_node.yaml"], {"model": str(imported_dir)}, log_path=log)
    client = GraphClient("pose_import_test")
    try:
        client.wait_connected(120, proc)
        first = cv2.imread(str(images_dir / PERSON_PHOTOS[0]))
        client.warm_up(first, proc=proc)
        estimator = PoseEstimator.from_file(imported_dir)
        for name in ("p1.jpg", "p3.jpg"):
            image = cv2.imread(str(images_dir / name))
            result = client.request(client.image_msg(image, time.time(), "camera_optical"), 60.0)
            assert result is not None, f"no PersonArray for {name}: {log.read_text()[-1500:]}"
            assert result.model == "tf-pose/mobilenet_v2_small-keras" and result.layout == "openpose18"
            expected = estimator(image)
            assert len(result.persons) == len(expected) >= 1, name
    finally:
        client.close()
        stop(proc)
