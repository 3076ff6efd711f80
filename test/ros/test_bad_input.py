"""Issue 10 on a real DDS graph (node in its own process, real model): nothing silent, nothing noisy.

- CameraInfo with absurd intrinsics never yields a non-finite position or marker;
- a CameraInfo announcing frames too large for best-effort transport is logged once and in diagnostics;
- a model reload keeps serving frames with the old model;
- compressed frames of every format are checked against max_pixels from the header, corrupt ones say so;
- the max_pixels parameter is the estimator's limit too;
- no TensorFlow C++ log lines by default, shown with log_level:=debug;
- SIGINT / SIGTERM while loading, reloading or inferring: exit 0, one line, no traceback.
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from sensor_msgs.msg import CameraInfo, CompressedImage  # noqa: E402

from pose_core.quiet import NATIVE_LOG_LINE  # noqa: E402
from pose_ros.image_conv import numpy_to_image  # noqa: E402
from pose_ros.messages import make_stamp  # noqa: E402

from conftest import ROOT, require  # noqa: E402
from ros_graph import GraphClient, start_node, stop  # noqa: E402

CONFIG = ROOT / "config"
FRAME = "camera_optical"
EXIT_WAIT_S = 20.0        # a hang guard, not a speed check: the exit time is printed


def photo(images_dir: Path, name: str = "p1.jpg") -> np.ndarray:
    return cv2.imread(str(require(images_dir / name, "test photo")))


def native_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if NATIVE_LOG_LINE.match(line.encode())]


def wait_log(log: Path, needle: str, proc, timeout: float = 180.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log.exists() and needle in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            pytest.fail(f"node exited ({proc.returncode}) before {needle!r}:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    pytest.fail(f"no {needle!r} in the node's log")


def signal_and_check(proc, log: Path, sig: int, what: str) -> None:
    """Send sig; the node must exit 0 with exactly one line after it, no traceback, no error line."""
    before = len(log.read_text(errors="replace").splitlines())
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        code = proc.wait(EXIT_WAIT_S)
    except Exception:  # noqa: BLE001
        proc.kill()
        proc.wait()
        pytest.fail(f"{what}: the node did not exit after {signal.Signals(sig).name}")
    print(f"{what}: {signal.Signals(sig).name} -> exit {code} after {time.monotonic() - t0:.2f} s")
    text = log.read_text(errors="replace")
    after = text.splitlines()[before:]
    assert code == 0, text[-3000:]
    assert "Traceback" not in text and "[ERROR]" not in text, text[-3000:]
    assert len(after) == 1 and f"stopping ({signal.Signals(sig).name})" in after[0], after


# ---------------------------------------------------------------------------------------------- raw node
@pytest.fixture(scope="module")
def raw_node(models_dir, images_dir, tmp_path_factory):
    os.environ["POSE_MODELS_DIR"] = str(models_dir)
    log = tmp_path_factory.mktemp("pose_node_raw") / "pose_node.log"
    proc = start_node([CONFIG / "pose_node.yaml"], {"depth": True}, log_path=log)
    client = GraphClient("pose_bad_input_test")
    try:
        client.wait_connected(180, proc)
        client.warm_up(photo(images_dir), proc=proc)
        yield client, proc, log
    finally:
        client.close()
        stop(proc)


def test_absurd_intrinsics_never_give_non_finite_positions_or_markers(raw_node, images_dir):
    graph, _, log = raw_node
    img = photo(images_dir, "p2.jpg")
    h, w = img.shape[:2]
    for k in ([1e-300, 0, w / 2, 0, 1e-300, h / 2, 0, 0, 1], [1e300, 0, w / 2, 0, 1e300, h / 2, 0, 0, 1]):
        stamp = time.time()
        info = CameraInfo(width=w, height=h, k=[float(v) for v in k], distortion_model="plumb_bob")
        info.header.stamp, info.header.frame_id = make_stamp(stamp), FRAME
        depth = numpy_to_image(np.full((h, w), 2000, np.uint16), "16UC1")
        depth.header.stamp, depth.header.frame_id = make_stamp(stamp), FRAME
        graph.pub_info.publish(info)
        graph.pub_depth.publish(depth)
        time.sleep(0.3)
        result = graph.request(graph.image_msg(img, stamp, FRAME))
        assert result is not None and len(result.persons) >= 1
        for p in result.persons:
            for kp in p.keypoints:
                xyz = (kp.position.x, kp.position.y, kp.position.z)
                assert all(math.isfinite(v) for v in xyz), (k[0], xyz)
                assert not kp.position_valid, (k[0], xyz)      # unusable K: 2D only
        key = result.header.stamp
        assert graph.wait_for(lambda: any(m.header.stamp == key for a in graph.markers for m in a.markers), 10)
        arr = next(a for a in graph.markers if a.markers[-1].header.stamp == key)
        points = [(pt.x, pt.y, pt.z) for m in arr.markers for pt in m.points]
        assert points and all(math.isfinite(v) for pt in points for v in pt)
    assert "intrinsics" in log.read_text()


def test_frames_too_large_for_best_effort_transport_are_announced_once(raw_node):
    graph, _, log = raw_node
    for _ in range(3):
        info = CameraInfo(width=7680, height=4320, k=[5000.0, 0, 3840, 0, 5000.0, 2160, 0, 0, 1])
        info.header.stamp, info.header.frame_id = make_stamp(time.time()), FRAME
        graph.pub_info.publish(info)
        time.sleep(0.2)
    assert graph.wait_for(lambda: graph.latest_diagnostics().get("transport", "ok") != "ok", 10)
    d = graph.latest_diagnostics()
    assert "qos_reliability:=reliable" in d["transport"] and "compressed" in d["transport"]
    warned = [line for line in log.read_text().splitlines() if "qos_reliability:=reliable" in line]
    assert len(warned) == 1 and "[WARN]" in warned[0] and "7680x4320" in warned[0]


def test_no_tensorflow_log_lines_by_default(raw_node):
    _, _, log = raw_node
    assert native_lines(log.read_text()) == []


def test_model_reload_keeps_serving_with_the_old_model(raw_node, images_dir):
    graph, _, _ = raw_node
    img = photo(images_dir)
    (res,) = graph.set_parameters(model="tf-pose/mobilenet_v2_small")     # TFLite: loads in ~0.1 s
    assert res.successful, res.reason
    done = threading.Event()
    results = []

    def switch():
        # Its TF frozen graph instead: seconds to load and trace, while frames keep coming at 10 Hz.
        results.append(graph.set_parameters(runtime="frozen_graph"))
        done.set()
    t0 = time.time()
    threading.Thread(target=switch, daemon=True).start()
    sent = []
    while not done.is_set() and time.time() - t0 < 120:
        stamp = time.time()
        graph.publish(graph.image_msg(img, stamp, FRAME))
        sent.append(stamp)
        time.sleep(0.1)
    t1 = time.time()
    assert done.is_set() and results[0][0].successful, results
    during = [s for s in sent if t0 + 0.1 < s < t1 - 0.3]     # published while the reload was under way
    assert len(during) >= 10, "the reload was too quick to observe"
    served = [r for r in (graph.result_for(make_stamp(s), timeout=0.5) for s in during) if r is not None]
    print(f"reload: {len(during)} frames published during it, {len(served)} served meanwhile")
    # Counted, not timed: the old model keeps serving while the new one loads (before: none of them). How
    # many depends on how much CPU the loading leaves; a fifth is far above zero on a loaded 2-core machine.
    assert len(served) >= max(3, len(during) // 5) and all(r.model == "tf-pose/mobilenet_v2_small" for r in served)
    assert int(graph.latest_diagnostics().get("frames_processed_during_reload", "0")) >= len(during) // 2


def test_sigint_during_a_model_reload_exits_cleanly(raw_node):
    graph, proc, log = raw_node
    needle = "switching model to"
    before = log.read_text().count(needle)
    # A TF frozen graph at an input size not loaded before: a load of seconds, whatever ran earlier.
    def reload():     # the node is stopped during the load: no answer ever comes, by design of this test
        with contextlib.suppress(TimeoutError):
            graph.set_parameters(model="tf-pose/mobilenet_v2_small", runtime="frozen_graph",
                                 input_size="320x240", timeout=60)

    threading.Thread(target=reload, daemon=True).start()
    end = time.monotonic() + 60
    while log.read_text().count(needle) == before and time.monotonic() < end:
        time.sleep(0.02)
    assert log.read_text().count(needle) > before
    time.sleep(0.3)                                   # inside the load
    assert "model switched" not in log.read_text().split(needle)[-1], "the reload ended before the signal"
    signal_and_check(proc, log, signal.SIGINT, "during reload")


# ---------------------------------------------------------------------------------------------- compressed
@pytest.fixture(scope="module")
def compressed_node(models_dir, images_dir, tmp_path_factory):
    os.environ["POSE_MODELS_DIR"] = str(models_dir)
    log = tmp_path_factory.mktemp("pose_node_compressed_bad") / "pose_node.log"
    proc = start_node([CONFIG / "pose_node.yaml"], {"compressed": True, "publish_annotated": False},
                      log_path=log)
    client = GraphClient("pose_bad_compressed_test")
    try:
        client.wait_connected(180, proc, compressed=True)
        client.warm_up(photo(images_dir), proc=proc, compressed=True)
        yield client, proc, log
    finally:
        client.close()
        stop(proc)


def encoded(img: np.ndarray, ext: str, params=()) -> bytes:
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return buf.tobytes()


def compressed(data: bytes, fmt: str) -> CompressedImage:
    msg = CompressedImage(format=fmt, data=data)
    msg.header.stamp, msg.header.frame_id = make_stamp(time.time()), FRAME
    return msg


def bad_inputs(graph) -> int:
    return int(graph.latest_diagnostics().get("bad_inputs", "0"))


def test_every_compressed_format_over_max_pixels_is_refused_from_its_header(compressed_node, images_dir):
    graph, _, log = compressed_node
    (res,) = graph.set_parameters(max_pixels=1_000_000)
    assert res.successful, res.reason
    big = cv2.resize(photo(images_dir), (1600, 1000))                   # 1.6 MP
    for ext, fmt in ((".tiff", "tiff"), (".webp", "webp"), (".bmp", "bmp"), (".png", "png"), (".jpg", "jpeg")):
        msg = compressed(encoded(big, ext), fmt)
        assert graph.request(msg, timeout=3.0) is None, f"{fmt} over max_pixels was processed"
    small = compressed(encoded(photo(images_dir), ".tiff"), "tiff")
    assert graph.request(small) is not None                             # under the limit: served
    refused = [line for line in log.read_text().splitlines() if "too large: 1600x1000" in line]
    assert len(refused) == 5, refused


def test_corrupt_bytes_after_a_png_signature_say_corrupt(compressed_node, images_dir):
    graph, _, log = compressed_node
    rng = np.random.default_rng(0)
    msg = compressed(b"\x89PNG\r\n\x1a\n" + rng.integers(0, 256, 200, dtype=np.uint8).tobytes(), "png")
    assert graph.request(msg, timeout=3.0) is None
    line = log.read_text().splitlines()[-1]
    assert "corrupt" in line and "too large" not in line, line


def test_max_pixels_parameter_is_the_estimators_limit_too(compressed_node):
    graph, _, _ = compressed_node
    (res,) = graph.set_parameters(max_pixels=60_000_000)
    assert res.successful, res.reason
    frame = np.full((7000, 7800, 3), 90, np.uint8)                     # 54.6 MP: over the old 50 MP limit
    msg = compressed(encoded(frame, ".png", (cv2.IMWRITE_PNG_COMPRESSION, 9)), "png")
    result = graph.request(msg, timeout=60.0)
    assert result is not None and (result.image_width, result.image_height) == (7800, 7000)


def test_sigterm_while_inferring_exits_cleanly_without_a_false_frame_error(compressed_node, images_dir):
    graph, proc, log = compressed_node
    graph.set_parameters(max_pixels=50_000_000)
    img = photo(images_dir)
    for _ in range(20):
        graph.publish(graph.compressed_msg(img, time.time(), FRAME))
        time.sleep(0.02)
    signal_and_check(proc, log, signal.SIGTERM, "while inferring")


# ---------------------------------------------------------------------------------------------- start-up
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_model_loading_exits_cleanly(models_dir, tmp_path, sig):
    os.environ["POSE_MODELS_DIR"] = str(models_dir)
    log = tmp_path / "pose_node.log"
    proc = start_node([CONFIG / "pose_node.yaml", CONFIG / "tf-pose_mobilenet_v2_small.yaml"], log_path=log)
    try:
        wait_log(log, "loading model", proc)
        time.sleep(0.5)                         # inside TensorFlow's import / the graph load
        signal_and_check(proc, log, sig, "during model load")
    finally:
        stop(proc)


def test_log_level_debug_shows_tensorflow_log_lines(models_dir, tmp_path):
    os.environ["POSE_MODELS_DIR"] = str(models_dir)
    log = tmp_path / "pose_node.log"
    proc = start_node([CONFIG / "pose_node.yaml"], {"log_level": "debug"}, log_path=log)
    try:
        wait_log(log, "model ready", proc)
    finally:
        stop(proc)
    assert native_lines(log.read_text())


# ---------------------------------------------------------------------------------------------- pose_source, pose_bag
def test_pose_source_stops_cleanly_on_sigint_while_publishing(images_dir, tmp_path):
    log = tmp_path / "pose_source.log"
    proc = start_node([], {"source": str(images_dir), "rate": 20.0, "loop": True, "topic": "bad_input_src"},
                      module="pose_ros.source_node", log_path=log)
    try:
        wait_log(log, "publishing", proc, 60)
        time.sleep(0.5)
        signal_and_check(proc, log, signal.SIGINT, "pose_source publishing")
    finally:
        stop(proc)


def test_pose_bag_play_stops_cleanly_on_sigterm(images_dir, tmp_path):
    import subprocess
    import sys

    from pose_ros.bag_tool import write_images
    bag = tmp_path / "bag"
    assert write_images(bag, str(images_dir), rate=1.0, max_frames=6) == 6
    proc = subprocess.Popen([sys.executable, "-m", "pose_ros.bag_tool", "play", str(bag), "--rate", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        time.sleep(3.0)                               # publishing: one message every 5 s
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=EXIT_WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert len([line for line in (out + err).splitlines() if line.strip()]) <= 2, (out, err)
