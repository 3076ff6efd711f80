"""Helpers for driving a pose node from another process over a real DDS graph (integration tests, the
benchmark, the demo listener). Not used by the nodes themselves."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from pose_msgs.msg import PersonArray
from pose_ros.image_conv import bgr_to_compressed, numpy_to_image
from pose_ros.messages import make_stamp


def start_node(params_files: list[Path], params: dict | None = None, module: str = "pose_ros.pose_node",
               name: str | None = None, log_path: Path | None = None,
               remaps: dict | None = None) -> subprocess.Popen:
    """Start a node as its own process with standard --ros-args (inherits this process's ROS env)."""
    cmd = [sys.executable, "-m", module, "--ros-args"]
    for f in params_files:
        cmd += ["--params-file", str(f)]
    for k, v in (params or {}).items():
        cmd += ["-p", f"{k}:={_param_literal(v)}"]
    for a, b in (remaps or {}).items():
        cmd += ["-r", f"{a}:={b}"]
    if name:
        cmd += ["-r", f"__node:={name}"]
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))


def _param_literal(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"'{v}'"
    return str(v)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(2)   # SIGINT: rclpy shuts down cleanly
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stamp_key(stamp) -> tuple[int, int]:
    return (stamp.sec, stamp.nanosec)


class _Waiting:
    """wait_for() over a client's threading.Condition `_cond`, notified whenever a message is stored."""

    def wait_for(self, predicate, timeout: float) -> bool:
        end = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True


class GraphClient(_Waiting):
    """A node in this process that publishes camera frames and collects the pose node's outputs.
    Spins on a background thread; all received messages are kept with their arrival time."""

    def __init__(self, name: str = "pose_test_client", image_topic: str = "image", poses_topic: str = "poses",
                 node_name: str = "pose_node"):
        if not rclpy.ok():
            rclpy.init()
        self.node = Node(name)
        self.node_name = node_name
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_image = self.node.create_publisher(Image, image_topic, reliable)
        self.pub_compressed = self.node.create_publisher(CompressedImage, image_topic + "/compressed", reliable)
        self.pub_depth = self.node.create_publisher(Image, "depth", reliable)
        self.pub_info = self.node.create_publisher(CameraInfo, "camera_info", reliable)
        self.poses: list[tuple[float, PersonArray]] = []
        self.markers: list[MarkerArray] = []
        self.annotated: list[Image] = []
        self.diagnostics: list[DiagnosticArray] = []
        self._cond = threading.Condition()
        self.node.create_subscription(PersonArray, poses_topic, self._store(self.poses, timed=True), 50)
        self.node.create_subscription(MarkerArray, "pose_markers", self._store(self.markers), 10)
        self.node.create_subscription(Image, "image_annotated", self._store(self.annotated), 10)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._store(self.diagnostics), 10)
        self.param_client = self.node.create_client(SetParameters, f"/{node_name}/set_parameters")
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _store(self, sink: list, timed: bool = False):
        def cb(msg):
            with self._cond:
                sink.append((time.time(), msg) if timed else msg)
                self._cond.notify_all()
        return cb

    def wait_connected(self, timeout: float = 60.0, proc: subprocess.Popen | None = None,
                       compressed: bool = False) -> None:
        """Until the pose node subscribes to our image topic (i.e. its model is loaded)."""
        pub = self.pub_compressed if compressed else self.pub_image
        end = time.monotonic() + timeout
        while pub.get_subscription_count() == 0:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"node exited with code {proc.returncode} before subscribing")
            if time.monotonic() > end:
                raise TimeoutError("pose node did not subscribe in time")
            time.sleep(0.1)
        # Our subscriptions must be matched too, or the first results are lost.
        while self.node.count_publishers("poses") == 0 and time.monotonic() < end:
            time.sleep(0.1)

    def warm_up(self, bgr: np.ndarray, timeout: float = 60.0, proc: subprocess.Popen | None = None,
                compressed: bool = False) -> PersonArray:
        """Publish a frame (raw or compressed) until its result comes back: discovery is complete in both
        directions and the model has run once (its first run is slow)."""
        make = self.compressed_msg if compressed else self.image_msg
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"node exited with code {proc.returncode}")
            result = self.request(make(bgr, time.time(), "warm_up"), timeout=5.0)
            if result is not None:
                return result
        raise TimeoutError("no result for the warm-up frame")

    def image_msg(self, bgr: np.ndarray, stamp: float, frame_id: str = "camera_optical",
                  encoding: str = "bgr8") -> Image:
        arr = {"bgr8": lambda a: a, "rgb8": lambda a: a[..., ::-1],
               "rgba8": lambda a: np.dstack([a[..., ::-1], np.full(a.shape[:2], 255, np.uint8)]),
               "bgra8": lambda a: np.dstack([a, np.full(a.shape[:2], 255, np.uint8)]),
               "mono8": lambda a: a.mean(axis=2).astype(np.uint8),
               "mono16": lambda a: (a.mean(axis=2) * 256).astype(np.uint16)}[encoding](bgr)
        msg = numpy_to_image(arr, encoding)
        msg.header.stamp = make_stamp(stamp)
        msg.header.frame_id = frame_id
        return msg

    def publish(self, msg) -> None:
        (self.pub_compressed if isinstance(msg, CompressedImage) else self.pub_image).publish(msg)

    def result_for(self, stamp, timeout: float = 30.0) -> PersonArray | None:
        key = stamp_key(stamp)
        found: list[PersonArray] = []

        def match():
            found[:] = [m for _, m in self.poses if stamp_key(m.header.stamp) == key]
            return bool(found)
        return found[0] if self.wait_for(match, timeout) else None

    def request(self, msg, timeout: float = 30.0) -> PersonArray | None:
        """Publish one frame and wait for the PersonArray carrying its stamp."""
        self.publish(msg)
        return self.result_for(msg.header.stamp, timeout)

    def compressed_msg(self, bgr: np.ndarray, stamp: float, frame_id: str = "camera_optical",
                       fmt: str = "jpeg") -> CompressedImage:
        msg = bgr_to_compressed(bgr, fmt)
        msg.header.stamp = make_stamp(stamp)
        msg.header.frame_id = frame_id
        return msg

    def set_parameters(self, timeout: float = 120.0, **values):
        """-> list of SetParametersResult from the pose node."""
        if not self.param_client.wait_for_service(timeout_sec=10.0):
            raise TimeoutError("set_parameters service not available")
        req = SetParameters.Request()
        for k, v in values.items():
            pv = ParameterValue()
            if isinstance(v, bool):
                pv.type, pv.bool_value = ParameterType.PARAMETER_BOOL, v
            elif isinstance(v, int):
                pv.type, pv.integer_value = ParameterType.PARAMETER_INTEGER, v
            elif isinstance(v, float):
                pv.type, pv.double_value = ParameterType.PARAMETER_DOUBLE, v
            else:
                pv.type, pv.string_value = ParameterType.PARAMETER_STRING, str(v)
            req.parameters.append(Parameter(name=k, value=pv))
        future = self.param_client.call_async(req)
        end = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > end:
                raise TimeoutError("set_parameters timed out")
            time.sleep(0.05)
        return future.result().results

    def latest_diagnostics(self) -> dict[str, str]:
        for arr in reversed(self.diagnostics):
            for st in arr.status:
                if st.name.startswith(self.node_name):
                    return {kv.key: kv.value for kv in st.values}
        return {}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def start_source(topic: str, source: str | Path, rate: float, frame_id: str, name: str,
                 log_path: Path | None = None, **params) -> subprocess.Popen:
    """A pose_source process looping `source` onto `topic` (a camera of a multi-camera test/benchmark)."""
    return start_node([], {"source": str(source), "rate": float(rate), "frame_id": frame_id, "topic": topic,
                           "loop": True, **params}, module="pose_ros.source_node", name=name, log_path=log_path)


class CameraClient(_Waiting):
    """Collects what a pose node publishes for several cameras (each in its own namespace: <ns>/poses,
    <ns>/pose_markers, <ns>/image_annotated) and the frames sent on each <ns>/image... topic, so results can
    be matched to their camera's frames. Spins on a background thread."""

    def __init__(self, name: str, image_topics: list[str], node_name: str = "pose_node",
                 watch_images: bool = True, outputs: bool = True):
        from pose_ros.cameras import namespace_of
        if not rclpy.ok():
            rclpy.init()
        self.node = Node(name)
        self.node_name = node_name
        self._cond = threading.Condition()
        self.poses: dict[str, list[tuple[float, PersonArray]]] = {}
        self.sent: dict[str, list] = {}            # header of every frame seen on the camera's image topic
        self.annotated: dict[str, list[Image]] = {}
        self.markers: dict[str, list[MarkerArray]] = {}
        self.diagnostics: list[DiagnosticArray] = []
        self.publishers: dict[str, object] = {}
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        for topic in image_topics:
            ns = namespace_of(topic)
            self.poses[topic], self.sent[topic] = [], []
            self.annotated[topic], self.markers[topic] = [], []
            self.node.create_subscription(PersonArray, f"{ns}/poses", self._store(self.poses[topic], True), 50)
            if outputs:
                self.node.create_subscription(Image, f"{ns}/image_annotated", self._store(self.annotated[topic]),
                                              5)
                self.node.create_subscription(MarkerArray, f"{ns}/pose_markers", self._store(self.markers[topic]),
                                              5)
            if watch_images:
                sent = self.sent[topic]
                self.node.create_subscription(Image, topic, lambda m, sent=sent: self._append(sent, m.header),
                                              reliable)
            self.publishers[topic] = self.node.create_publisher(Image, topic, reliable)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._store(self.diagnostics), 10)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _append(self, sink: list, item) -> None:
        with self._cond:
            sink.append(item)
            self._cond.notify_all()

    def _store(self, sink: list, timed: bool = False):
        return lambda msg: self._append(sink, (time.time(), msg) if timed else msg)

    def count(self, topic: str) -> int:
        return len(self.poses[topic])

    def camera_diagnostics(self) -> dict[str, dict[str, str]]:
        """Latest per-camera diagnostics of the node, keyed by its resolved image topic ('' = the node's own
        status)."""
        for arr in reversed(self.diagnostics):
            mine = [st for st in arr.status if st.name.startswith(self.node_name + ":")]
            if mine:
                out = {}
                for st in mine:
                    kv = {kv.key: kv.value for kv in st.values}
                    out[kv.get("image_topic", "")] = kv
                return out
        return {}

    def close(self) -> None:
        self.executor.shutdown()
        self._thread.join(timeout=5.0)         # spinning ends before the node goes
        self.node.destroy_node()

