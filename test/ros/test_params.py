"""Every pose_node parameter that reloads the model or changes behaviour at runtime, set with `ros2 param
set`'s service on a real node process (model: pose-mobile/cpm, small, single person, TFLite + frozen graph):
runtime, device (gpu:0 falls back to the CPU with the log line), threads, input_size, smoothing, max_pixels,
min_person_score / min_keypoint_score, detect_every. (`model`, `tracking` and `crop_tracking` are in
test_ros_node.) Each change is observed in what the node does: diagnostics, its log, its PersonArrays."""
from __future__ import annotations

import os
import time

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from conftest import ROOT, require  # noqa: E402
from ros_graph import GraphClient, start_node, stop  # noqa: E402

CONFIG = ROOT / "config"
FRAME = "camera_optical"


@pytest.fixture(scope="module")
def node(models_dir, images_dir, tmp_path_factory):
    os.environ["POSE_MODELS_DIR"] = str(models_dir)
    log = tmp_path_factory.mktemp("pose_node_params") / "pose_node.log"
    proc = start_node([CONFIG / "pose_node.yaml"], {"model": "pose-mobile/cpm", "diagnostics_period": 0.2},
                      log_path=log)
    client = GraphClient("pose_params_test")
    client.log = log
    try:
        client.wait_connected(120, proc)
        # Discovery complete both ways and the model run once: a single frame sent before that is lost.
        client.warm_up(cv2.imread(str(require(images_dir / "p1.jpg", "test photo"))), timeout=120, proc=proc)
        yield client
    finally:
        client.close()
        stop(proc)


@pytest.fixture(scope="module")
def photo(images_dir) -> np.ndarray:
    return cv2.imread(str(require(images_dir / "p1.jpg", "test photo")))    # one person, 217x232


def send(node: GraphClient, img: np.ndarray, stamp: float | None = None):
    result = node.request(node.image_msg(img, time.time() if stamp is None else stamp, FRAME), timeout=60)
    assert result is not None, "no PersonArray for the frame"
    return result


def set_ok(node: GraphClient, **values) -> None:
    results = node.set_parameters(**values)
    assert all(r.successful for r in results), [r.reason for r in results]


def fresh_diagnostics(node: GraphClient) -> dict[str, str]:
    """Diagnostics published after now (the node publishes every 0.2 s here)."""
    n = len(node.diagnostics)
    assert node.wait_for(lambda: len(node.diagnostics) > n + 1, 10)
    return node.latest_diagnostics()


def test_runtime_device_and_threads_reload_the_model(node, photo):
    assert len(send(node, photo).persons) == 1
    assert fresh_diagnostics(node)["runtime"].startswith("tflite on cpu (XNNPACK")
    set_ok(node, runtime="frozen_graph")
    assert len(send(node, photo).persons) == 1
    d = fresh_diagnostics(node)
    assert d["runtime"] == "frozen_graph on cpu" and d["device"] == "cpu"
    # No GPU (CI): gpu:0 is accepted, runs on the CPU and says so in the node's log. (Where a GPU is visible
    # it runs there instead: test_device_fallback covers that split for the library.)
    import tensorflow as tf
    no_gpu = not tf.config.list_physical_devices("GPU")
    set_ok(node, device="gpu:0")
    assert len(send(node, photo).persons) == 1
    log = node.log.read_text()
    assert not no_gpu or "device gpu:0 requested but 0 GPU(s) visible to TensorFlow; falling back to CPU" in log
    set_ok(node, runtime="tflite")            # still gpu:0: the TFLite GPU delegate's fallback
    assert len(send(node, photo).persons) == 1
    assert not no_gpu or "TFLite GPU delegate not available; falling back to CPU" in node.log.read_text()
    set_ok(node, device="cpu", threads=1)
    assert len(send(node, photo).persons) == 1
    assert fresh_diagnostics(node)["device"] == "cpu (XNNPACK, 1 threads)"
    set_ok(node, runtime="", threads=0)


def test_bad_runtime_or_input_size_is_rejected_and_the_old_model_kept(node, photo):
    for values, word in (({"runtime": "no_such_runtime"}, "no_such_runtime"), ({"input_size": "banana"}, "banana")):
        (res,) = node.set_parameters(**values)
        assert not res.successful and word in res.reason and "keeping" in res.reason
    assert len(send(node, photo).persons) == 1
    assert fresh_diagnostics(node)["runtime"].startswith("tflite on cpu")


def test_score_thresholds_filter_people_and_keypoints(node, photo):
    base = send(node, photo)
    assert len(base.persons) == 1 and base.persons[0].score < 0.99
    scores = np.array([k.score for k in base.persons[0].keypoints])
    cut = float(np.median(scores[scores > 0]))
    set_ok(node, min_keypoint_score=cut)
    kept = np.array([k.score for k in send(node, photo).persons[0].keypoints])
    assert (kept[kept > 0] >= cut - 1e-6).all() and (kept > 0).sum() < (scores > 0).sum()
    set_ok(node, min_keypoint_score=0.0, min_person_score=0.99)
    assert send(node, photo).persons == []
    set_ok(node, min_person_score=0.1)
    assert len(send(node, photo).persons) == 1


def test_max_pixels_rejects_larger_frames_at_runtime(node, photo):
    bad_before = int(fresh_diagnostics(node).get("bad_inputs", 0))
    set_ok(node, max_pixels=1000)
    msg = node.image_msg(photo, time.time(), FRAME)
    node.publish(msg)
    assert node.result_for(msg.header.stamp, timeout=3.0) is None
    assert node.wait_for(lambda: int(node.latest_diagnostics().get("bad_inputs", 0)) > bad_before, 10)
    set_ok(node, max_pixels=50_000_000)
    assert len(send(node, photo).persons) == 1


def test_smoothing_on_makes_a_jump_lag_and_off_follows_it(node, photo):
    """Frames 1/30 s apart, the person moved 18 px: One-Euro (beta 0: its slowest) moves the keypoints a
    fraction of that; without smoothing they follow."""
    moved = np.roll(photo, 18, axis=1)

    def shift() -> float:
        t = time.time()
        a = send(node, photo, t).persons[0]
        b = send(node, moved, t + 1 / 30).persons[0]
        assert a.id == b.id, "the track did not continue"
        pairs = [(ka.x, kb.x) for ka, kb in zip(a.keypoints, b.keypoints) if ka.score > 0 and kb.score > 0]
        assert len(pairs) >= 8
        return float(np.median([xb - xa for xa, xb in pairs]))

    set_ok(node, smoothing=True, smoothing_beta=0.0)
    smoothed = shift()
    set_ok(node, smoothing=False)
    assert shift() > 12 > 9 > smoothed, smoothed


def test_input_size_and_detect_every_reach_the_pipeline(node, images_dir):
    """A top-down pipeline: detect_every shows in the model's description (logged on the switch); input_size
    changes the pose network's input, so the keypoints move (the same photo, the same detector boxes)."""
    img = cv2.imread(str(require(images_dir / "p3.jpg", "test photo")))
    set_ok(node, model="topdown/yolox-nano+movenet-lightning", detect_every=3)
    assert "detect every 3 frames" in node.log.read_text().rsplit("model switched:", 1)[-1]
    people = send(node, img).persons
    assert len(people) >= 2
    set_ok(node, model="movenet/multipose-lightning", detect_every=0)
    a = send(node, img).persons
    set_ok(node, input_size="320x320")
    b = send(node, img).persons
    assert len(a) >= 2 and len(b) >= 2
    xa = sorted(k.x for p in a for k in p.keypoints if k.score > 0)
    xb = sorted(k.x for p in b for k in p.keypoints if k.score > 0)
    assert xa != xb, "input_size changed nothing"
