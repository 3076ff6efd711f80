"""The pose node on a real DDS graph: the node runs in its own process (started with the project's params
files, real TensorFlow model), this test process publishes the shared photos and reads the outputs.

One node process serves the whole module (model load dominates the cost); tests run in file order and
the model-switch tests come last.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from pose_ros.image_conv import numpy_to_image  # noqa: E402
from pose_ros.messages import make_stamp, stamp_seconds  # noqa: E402

from conftest import PERSON_PHOTOS, ROOT, require  # noqa: E402
from ros_graph import GraphClient, start_node, stop  # noqa: E402

CONFIG = ROOT / "config"
DEFAULT_MODEL_CONFIG = CONFIG / "tf-pose_mobilenet_v2_small.yaml"
FRAME = "camera_color_optical_frame"


@pytest.fixture(scope="module")
def graph(models_dir, images_dir, tmp_path_factory):
    os.environ["POSE_MODELS_DIR"] = str(models_dir)
    log = tmp_path_factory.mktemp("pose_node") / "pose_node.log"
    proc = start_node([CONFIG / "pose_node.yaml", DEFAULT_MODEL_CONFIG], {"depth": True}, log_path=log)
    client = GraphClient("pose_node_test")
    try:
        client.wait_connected(120, proc)
        client.warm_up(photo(images_dir, "p1.jpg"), proc=proc)
        yield client
    finally:
        client.close()
        stop(proc)
        if proc.returncode not in (0, -2):
            print(log.read_text()[-3000:])


def photo(images_dir: Path, name: str) -> np.ndarray:
    return cv2.imread(str(require(images_dir / name, "test photo")))


def send(graph: GraphClient, msg, timeout: float = 30.0):
    result = graph.request(msg, timeout)
    assert result is not None, f"no PersonArray for the frame stamped {stamp_seconds(msg.header.stamp)}"
    return result


def keypoints(result) -> np.ndarray:
    """(P, K, 3) x, y, score."""
    return np.array([[[k.x, k.y, k.score] for k in p.keypoints] for p in result.persons], np.float32)


def test_photos_give_people_with_the_image_header_and_size(graph, images_dir):
    for i, name in enumerate(PERSON_PHOTOS):
        img = photo(images_dir, name)
        msg = graph.image_msg(img, time.time(), f"{FRAME}_{i}")
        result = send(graph, msg)
        assert result.header.stamp == msg.header.stamp and result.header.frame_id == f"{FRAME}_{i}"
        assert (result.image_width, result.image_height) == (img.shape[1], img.shape[0])
        assert result.layout == "openpose18" and result.model == "tf-pose/mobilenet_v2_small"
        assert len(result.persons) >= 1, name
        for p in result.persons:
            assert [k.index for k in p.keypoints] == list(range(18)) and p.keypoints[0].name == "nose"
            seen = [k for k in p.keypoints if k.score > 0]
            assert seen and all(0 <= k.x <= img.shape[1] and 0 <= k.y <= img.shape[0] for k in seen)
            assert p.width > 0 and p.height > 0 and 0 < p.score <= 1.0 + 1e-6
    # The annotated image and the (2D: no depth for these frames) markers of the last frame.
    stamp = result.header.stamp
    assert graph.wait_for(lambda: any(a.header.stamp == stamp for a in graph.annotated), 10)
    annotated = next(a for a in graph.annotated if a.header.stamp == stamp)
    assert annotated.header.frame_id == result.header.frame_id and annotated.encoding == "bgr8"
    assert (annotated.width, annotated.height) == (img.shape[1], img.shape[0])
    assert graph.wait_for(lambda: any(m.header.stamp == stamp for a in graph.markers for m in a.markers), 10)
    arr = next(a for a in graph.markers if a.markers[-1].header.stamp == stamp)
    assert arr.markers[0].action == Marker.DELETEALL               # last frame's people are cleared
    joints = [m for m in arr.markers if m.ns == "joints"]
    assert len(joints) == len(result.persons)
    assert all(pt.z == pytest.approx(1.0) for m in joints for pt in m.points)   # the virtual image plane


def test_keypoints_are_in_pixels_of_the_sent_image(graph, images_dir):
    """The same photo at 1x and 2x: keypoints scale with the image (they are not network-input pixels)."""
    img = photo(images_dir, "p1.jpg")
    small = keypoints(send(graph, graph.image_msg(img, time.time(), FRAME)))
    big_img = cv2.resize(img, (img.shape[1] * 2, img.shape[0] * 2), interpolation=cv2.INTER_LINEAR)
    big = keypoints(send(graph, graph.image_msg(big_img, time.time(), FRAME)))
    assert small.shape == big.shape and small.shape[0] == 1
    both = (small[0, :, 2] > 0) & (big[0, :, 2] > 0)
    assert both.sum() >= 8
    err = np.abs(big[0, both, :2] / 2.0 - small[0, both, :2])
    assert np.median(err) < 3.0, err


@pytest.mark.parametrize("encoding", ["rgb8", "rgba8", "bgra8", "mono8", "mono16"])
def test_every_encoding_with_row_padding(graph, images_dir, encoding):
    img = photo(images_dir, "p2.jpg")
    ref = keypoints(send(graph, graph.image_msg(img, time.time(), FRAME)))
    msg = graph.image_msg(img, time.time(), FRAME, encoding=encoding)
    pad = 13                                                  # odd padding, as some drivers emit
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    msg.data = np.concatenate([rows, np.zeros((msg.height, pad), np.uint8)], axis=1).tobytes()
    msg.step += pad
    out = keypoints(send(graph, msg))
    assert len(out) >= 1
    if encoding in ("rgb8", "rgba8", "bgra8"):                # the same pixels: the same people
        np.testing.assert_allclose(out, ref, atol=1e-3)


def depth_frame(graph: GraphClient, img: np.ndarray, depth: np.ndarray, encoding: str, k: np.ndarray,
                stamp: float) -> Image:
    """Publish CameraInfo + depth for `stamp`, then return the colour frame to send."""
    h, w = img.shape[:2]
    info = CameraInfo(width=w, height=h, k=[float(v) for v in k.ravel()], distortion_model="plumb_bob")
    info.header.stamp, info.header.frame_id = make_stamp(stamp), FRAME
    d = numpy_to_image(depth, encoding)
    d.header.stamp, d.header.frame_id = make_stamp(stamp), FRAME
    graph.pub_info.publish(info)
    graph.pub_depth.publish(d)
    time.sleep(0.3)                # depth and colour travel on different topics: let depth arrive first
    return graph.image_msg(img, stamp, FRAME)


def intrinsics(w: int, h: int) -> np.ndarray:
    return np.array([[500.0, 0, w / 2], [0, 500.0, h / 2], [0, 0, 1]])


@pytest.mark.parametrize("encoding,value,z", [("16UC1", 2000, 2.0), ("32FC1", 1.25, 1.25)])
def test_depth_plane_gives_keypoints_at_its_distance(graph, images_dir, encoding, value, z):
    img = photo(images_dir, "p2.jpg")
    h, w = img.shape[:2]
    depth = np.full((h, w), value, np.uint16 if encoding == "16UC1" else np.float32)
    k = intrinsics(w, h)
    result = send(graph, depth_frame(graph, img, depth, encoding, k, time.time()))
    seen = [kp for p in result.persons for kp in p.keypoints if kp.score > 0]
    assert seen and all(kp.position_valid for kp in seen)
    for kp in seen:
        assert kp.position.z == pytest.approx(z, rel=1e-3)
        assert kp.position.x == pytest.approx((kp.x - w / 2) * z / 500.0, abs=1e-3)
        assert kp.position.y == pytest.approx((kp.y - h / 2) * z / 500.0, abs=1e-3)
    unseen = [kp for p in result.persons for kp in p.keypoints if kp.score == 0]
    assert not any(kp.position_valid for kp in unseen)
    # Markers for that frame: in the image's frame, 3D (at the plane's depth).
    assert graph.wait_for(lambda: any(m.header.stamp == result.header.stamp for a in graph.markers
                                      for m in a.markers), 10)
    arr = [a for a in graph.markers if a.markers and a.markers[-1].header.stamp == result.header.stamp][-1]
    joints = [m for m in arr.markers if m.ns == "joints"]
    assert len(joints) == len(result.persons) and all(m.header.frame_id == FRAME for m in joints)
    assert all(m.type == Marker.SPHERE_LIST and abs(pt.z - z) < 1e-3 for m in joints for pt in m.points)


def test_tracking_ids_stable_over_a_replayed_sequence(graph, images_dir):
    img = photo(images_dir, "p3.jpg")
    h, w = img.shape[:2]
    orders = []
    for t in range(8):           # the crowd drifts right by 2 px per frame, as in a slow pan
        shift = np.float32([[1, 0, 2 * t], [0, 1, 0]])
        frame = cv2.warpAffine(img, shift, (w, h), borderMode=cv2.BORDER_REPLICATE)
        result = send(graph, graph.image_msg(frame, time.time(), FRAME))
        persons = sorted(result.persons, key=lambda p: p.x_min)
        orders.append([p.id for p in persons])
    assert len(orders[0]) == 3
    assert all(o == orders[0] for o in orders), orders
    assert all(i >= 0 for i in orders[0])


def test_tracking_off_at_runtime_gives_id_minus_one(graph, images_dir):
    before = send(graph, graph.image_msg(photo(images_dir, "p2.jpg"), time.time(), FRAME))
    (res,) = graph.set_parameters(tracking=False)
    assert res.successful
    try:
        result = send(graph, graph.image_msg(photo(images_dir, "p2.jpg"), time.time(), FRAME))
        assert result.persons and all(p.id == -1 for p in result.persons)
    finally:
        assert graph.set_parameters(tracking=True)[0].successful
    result = send(graph, graph.image_msg(photo(images_dir, "p2.jpg"), time.time(), FRAME))
    assert result.persons and min(p.id for p in result.persons) > max(p.id for p in before.persons)   # not reused


def test_flood_never_builds_a_backlog(graph, images_dir):
    """120 frames as fast as this process can publish them (far faster than inference): the node drops,
    never queues; processed frames stay young and the last frame published is the last one processed.
    A queue would need ~120 inference times (seconds) to drain."""
    img = photo(images_dir, "p2.jpg")
    before = len(graph.poses)
    counters = ("frames_received", "frames_processed", "frames_dropped")
    before_counts = [int(graph.latest_diagnostics().get(k, 0)) for k in counters]
    stamps = []
    for _ in range(120):
        msg = graph.image_msg(img, time.time(), FRAME)
        stamps.append(stamp_seconds(msg.header.stamp))
        graph.publish(msg)
        time.sleep(0.002)
    published = time.time()
    last = graph.result_for(make_stamp(stamps[-1]), timeout=30)
    assert last is not None, "the latest frame was not processed"
    sent = set(stamps)
    got = [(t, m) for t, m in graph.poses[before:] if stamp_seconds(m.header.stamp) in sent]
    assert len(got) < len(stamps) / 2, f"{len(got)} of {len(stamps)} frames processed: frames were queued"
    # Counted, not timed: after the last publish only what the input QoS queue (depth 5), the mailbox slot
    # and the frame in inference hold can still come out; a backlog would keep results coming for ~100 frames.
    late = sum(t > published for t, _ in got)
    assert late <= 5 + 2, f"{late} results after the last frame was published: a backlog built up"
    # Nothing lost silently: every frame the node received was processed or counted as dropped. (Frames the
    # best-effort DDS queue overwrote before the node took them never reach it: not counted, not asserted.)
    def deltas():
        diag = graph.latest_diagnostics()
        return [int(diag.get(k, 0)) - b for k, b in zip(counters, before_counts)]
    # A frame in flight at the first snapshot may be counted on either side of it: a tolerance of one each way.
    assert graph.wait_for(lambda: deltas()[0] >= 2 and abs(deltas()[0] - deltas()[1] - deltas()[2]) <= 1, 10), \
        deltas()
    received, processed, dropped = deltas()
    assert dropped >= 1 and processed < received, (received, processed, dropped)


def bad_images(w: int = 64, h: int = 48) -> dict[str, Image]:
    return {
        "unknown encoding": Image(height=h, width=w, encoding="yuv422_yuy2", step=2 * w, data=bytes(2 * w * h)),
        "step smaller than a row": Image(height=h, width=w, encoding="bgr8", step=w, data=bytes(w * h)),
        "data shorter than step*height": Image(height=h, width=w, encoding="bgr8", step=3 * w, data=bytes(10)),
        "empty": Image(height=0, width=0, encoding="bgr8", step=0, data=b""),
        "8000x8000": Image(height=8000, width=8000, encoding="mono8", step=8000, data=bytes(8000)),
    }


@pytest.mark.parametrize("case", list(bad_images()))
def test_bad_input_then_good_frame_still_served(graph, images_dir, case):
    bad = bad_images()[case]
    bad.header.stamp, bad.header.frame_id = make_stamp(time.time()), FRAME
    errors_before = int(graph.latest_diagnostics().get("bad_inputs", 0))
    graph.publish(bad)
    assert graph.result_for(bad.header.stamp, timeout=1.0) is None
    good = send(graph, graph.image_msg(photo(images_dir, "p1.jpg"), time.time(), FRAME))
    assert len(good.persons) >= 1
    assert graph.wait_for(lambda: int(graph.latest_diagnostics().get("bad_inputs", 0)) > errors_before, 10)


@pytest.mark.parametrize("case", ["nan_zero_inf_depth", "k_all_zeros", "depth_all_invalid"])
def test_bad_depth_or_camera_info_still_gives_2d(graph, images_dir, case):
    img = photo(images_dir, "p2.jpg")
    h, w = img.shape[:2]
    depth = np.full((h, w), 3.0, np.float32)
    k = intrinsics(w, h)
    if case == "nan_zero_inf_depth":          # sparse invalid readings: the window median ignores them
        depth[::3, ::2], depth[1::3, 1::2], depth[2::3, ::2] = np.nan, 0.0, np.inf
    elif case == "depth_all_invalid":
        depth[:] = np.nan
    else:
        k = np.zeros((3, 3))
    result = send(graph, depth_frame(graph, img, depth, "32FC1", k, time.time()))
    seen = [kp for p in result.persons for kp in p.keypoints if kp.score > 0]
    assert seen
    if case == "nan_zero_inf_depth":
        assert all(kp.position_valid and kp.position.z == pytest.approx(3.0) for kp in seen)
    else:
        assert not any(kp.position_valid for kp in seen)
    # K all zeros is reported, then the next camera info with a good K heals it.
    good = send(graph, depth_frame(graph, img, np.full((h, w), 3.0, np.float32), "32FC1", intrinsics(w, h),
                                   time.time()))
    assert all(kp.position_valid for p in good.persons for kp in p.keypoints if kp.score > 0)


def test_rosbag_mcap_replayed_into_the_node(graph, images_dir, tmp_path):
    from rclpy.serialization import deserialize_message

    from pose_ros.bag_tool import play, read_messages, write_images
    bag = tmp_path / "photos_bag"
    n = write_images(bag, str(images_dir), topic="/image", rate=10.0, frame_id=FRAME, max_frames=6)
    assert n == 6 and (bag / "metadata.yaml").is_file() and list(bag.glob("*.mcap"))
    stamps = [deserialize_message(raw, Image).header.stamp for _, _, _, raw in read_messages(bag)]
    assert len(stamps) == 6
    assert play(bag, rate=0.3, node=graph.node) == 6      # ~2 s between frames: none dropped
    for s in stamps:
        result = graph.result_for(s, timeout=30)
        assert result is not None and result.header.frame_id == FRAME


def test_poses_recorded_to_mcap_read_back_as_person_arrays(graph, images_dir, tmp_path):
    """pose_bag record: our own message type registered in rosbags from pose_msgs/msg/*.msg."""
    import threading

    from rclpy.serialization import deserialize_message

    from pose_msgs.msg import PersonArray
    from pose_ros.bag_tool import read_messages, record
    bag = tmp_path / "poses_bag"
    counts = []
    rec = threading.Thread(target=lambda: counts.append(
        record(bag, [("/poses", "pose_msgs/msg/PersonArray")], duration=30, max_messages=2)))
    rec.start()
    end = time.monotonic() + 10
    while graph.node.count_subscribers("/poses") < 2 and time.monotonic() < end:
        time.sleep(0.05)
    sent = [send(graph, graph.image_msg(photo(images_dir, name), time.time(), FRAME)) for name in ("p1.jpg", "p2.jpg")]
    rec.join(timeout=30)
    assert counts == [2]
    got = [deserialize_message(raw, PersonArray) for _, msgtype, _, raw in read_messages(bag)
           if msgtype == "pose_msgs/msg/PersonArray"]
    assert [(g.header.stamp, len(g.persons)) for g in got] == [(r.header.stamp, len(r.persons)) for r in sent]
    # rosbags' own CDR reader agrees with the definition it registered from pose_msgs/msg/*.msg.
    from pose_ros.bag_tool import typestore
    store = typestore()
    first = next(raw for _, _, _, raw in read_messages(bag))
    decoded = store.deserialize_cdr(first, "pose_msgs/msg/PersonArray")
    assert decoded.header.frame_id == FRAME and len(decoded.persons) == len(sent[0].persons)
    assert decoded.persons[0].keypoints[0].name == sent[0].persons[0].keypoints[0].name


def test_diagnostics_report_rates_latency_counters_model_device(graph):
    assert graph.wait_for(lambda: bool(graph.latest_diagnostics()), 10)
    d = graph.latest_diagnostics()
    for key in ("input_fps", "processed_fps", "latency_ms_median", "frames_dropped", "model", "device"):
        assert key in d
    # device names the CPU and, for TFLite (the converted-model cache), its delegate: "cpu (XNNPACK, 2 threads)"
    assert d["model"] == "tf-pose/mobilenet_v2_small" and d["device"].split()[0] == "cpu", d["device"]
    assert int(d["frames_processed"]) > 20 and float(d["latency_ms_median"]) > 0


def test_out_of_range_parameter_is_rejected(graph):
    (res,) = graph.set_parameters(min_person_score=2.0)
    assert not res.successful


def test_runtime_switch_to_missing_model_is_rejected_and_old_model_kept(graph, images_dir, tmp_path):
    missing = tmp_path / "no_such_model" / "model.yaml"
    (res,) = graph.set_parameters(model=str(missing))
    assert not res.successful and "no_such_model" in res.reason and "keeping" in res.reason
    result = send(graph, graph.image_msg(photo(images_dir, "p1.jpg"), time.time(), FRAME))
    assert result.model == "tf-pose/mobilenet_v2_small" and len(result.persons) >= 1


def test_runtime_model_switch_reloads_without_restart(graph, images_dir):
    (res,) = graph.set_parameters(model="movenet/multipose-lightning")
    assert res.successful, res.reason
    result = send(graph, graph.image_msg(photo(images_dir, "p1.jpg"), time.time(), FRAME))
    assert result.model == "movenet/multipose-lightning" and result.layout == "coco17"
    assert len(result.persons) >= 1 and len(result.persons[0].keypoints) == 17


def test_crop_tracking_for_a_single_pose_model_on_a_stream(graph, images_dir):
    (res,) = graph.set_parameters(model="movenet/lightning")
    assert res.successful, res.reason
    (res,) = graph.set_parameters(crop_tracking=True)
    assert res.successful, res.reason
    image = photo(images_dir, "apink1.jpg")
    for _ in range(3):   # first frame: whole image; then crops around the previous pose
        result = send(graph, graph.image_msg(image, time.time(), FRAME))
        assert result.model == "movenet/lightning" and len(result.persons) == 1
        xs = [k.x for k in result.persons[0].keypoints if k.score > 0]
        assert len(xs) >= 10 and 0 <= min(xs) and max(xs) < image.shape[1]
    # A multi-person model cannot crop-track: the switch is rejected with the reason, the old model kept.
    (res,) = graph.set_parameters(model="movenet/multipose-lightning")
    assert not res.successful and "crop tracking" in res.reason
    (res,) = graph.set_parameters(crop_tracking=False)
    assert res.successful, res.reason


def test_topdown_pipeline_by_name_on_a_stream(graph, images_dir):
    """A top-down pipeline is a model name like any other; on the node's stream the detector runs every
    detect_every frames and crops follow the tracked people in between."""
    results = graph.set_parameters(model="topdown/yolox-nano+movenet-lightning", detect_every=2)
    assert all(r.successful for r in results), [r.reason for r in results]
    image = photo(images_dir, "p3.jpg")
    h, w = image.shape[:2]
    for _ in range(4):
        result = send(graph, graph.image_msg(image, time.time(), FRAME))
        assert result.model == "topdown/yolox-nano+movenet-lightning" and result.layout == "coco17"
        assert len(result.persons) >= 2
        for p in result.persons:
            assert 0 <= p.x_min and p.x_min + p.width <= w + 1 and p.height > 50
            assert sum(k.score > 0 for k in p.keypoints) >= 5
    # A multi-person model inside a pipeline is refused with the reason; the pipeline keeps serving.
    (res,) = graph.set_parameters(model="topdown:yolox/nano+movenet/multipose-lightning")
    assert not res.successful and "single-pose" in res.reason
