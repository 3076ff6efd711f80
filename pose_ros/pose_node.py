"""The pose node: camera image in; PersonArray, MarkerArray, annotated image and /diagnostics out.

Wiring only: parameters, QoS, subscriptions, publishers. Inference runs on a worker thread that always takes
the LATEST frame from a one-slot mailbox (frames arriving while it is busy are counted as dropped, never
queued), so latency stays bounded when the camera is faster than the model. The math is in pose_core.

Several cameras, one model (`image_topics`): one mailbox slot per camera, the ONE loaded model serves the
waiting camera it served least recently (no camera starves), and each camera has its own outputs in its namespace,
its own tracker and its own top-down stream state (pose_ros/cameras.py).

A lifecycle node: configure = read the parameters and load the model, activate = subscribe and infer,
deactivate = stop taking frames, cleanup = free the model. `autostart` (default true) configures and
activates it at start, so a plain run behaves like a regular node; with autostart:=false a lifecycle manager
drives it. The `~/enable` service (std_srvs/SetBool) pauses and resumes inference without unloading the
model; `max_rate` caps the inference rate (Hz, 0 = as fast as frames come).

    pose_node --ros-args --params-file config/pose_node.yaml -r image:=/camera/color/image_raw
"""
from __future__ import annotations

import gc
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.logging import LoggingSeverity
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import SetBool
from visualization_msgs.msg import MarkerArray

from pose_core import estimators, quiet
from pose_core.draw import draw_people
from pose_core.errors import ImageError, PoseError
from pose_core.lift3d import check_intrinsics, depth_to_metres, scale_intrinsics
from pose_core.stream import DepthFrame, FramePipeline, nearest_in_time
from pose_core.tracking import PoseTracker
from pose_msgs.msg import PersonArray
from pose_ros.cameras import CameraTopics, camera_view, plan_cameras
from pose_ros.image_conv import check_image_msg, compressed_to_bgr, image_msg_to_array, image_to_numpy, numpy_to_image
from pose_ros.mailbox import LatestMailboxes
from pose_ros.markers import people_to_markers
from pose_ros.messages import people_to_msg, stamp_seconds
from pose_ros.params import MODEL_PARAMS, POSE_NODE_PARAMS, declare, result_filter, values
from pose_ros.shutdown import SignalExit, init_ros
from pose_ros.stats import NodeStats, process_rss_mb
from pose_ros.transport import TransportCheck


@dataclass
class Frame:
    msg: object              # Image or CompressedImage, converted on the worker (keeps callbacks cheap)
    received: float          # time.monotonic() at the callback
    received_wall: float     # time.time() at the callback


@dataclass
class Camera:
    """One camera: its topics, its pipeline (its own stream over the shared model, its own tracker), its depth
    inputs, publishers and counters."""
    topics: CameraTopics
    pipeline: FramePipeline
    transport: TransportCheck
    stats: NodeStats = field(default_factory=NodeStats)
    depth: deque = field(default_factory=lambda: deque(maxlen=10))
    camera_info: CameraInfo | None = None
    pub_poses: object = None
    pub_markers: object = None
    pub_annotated: object = None


def load_estimator(p: dict):
    """A stream (pose_core.stream) over a PoseEstimator or top-down pipeline: pipelines track crops between
    detections, single-pose models with crop_tracking crop around the last pose."""
    return estimators.load_estimator(p["model"], runtime=p["runtime"] or None, device=p["device"],
                                     threads=p["threads"] or None, input_size=p["input_size"] or None,
                                     crop_tracking=p["crop_tracking"], stream=True,
                                     detect_every=p["detect_every"] or None)


class PoseNode(LifecycleNode):
    def __init__(self, **kwargs):
        super().__init__("pose_node", **kwargs)
        declare(self, POSE_NODE_PARAMS)
        self.p = values(self, POSE_NODE_PARAMS)
        set_log_level(self, self.p["log_level"])
        self.stats = NodeStats()               # all cameras together; each Camera has its own too
        self.mailbox: LatestMailboxes | None = None        # one slot per camera, while configured
        self._lock = threading.Lock()          # guards self.estimator/self.cameras swaps and self.p updates
        self.estimator = None                  # the ONE model: loaded in on_configure, freed in on_cleanup
        self.cameras: list[Camera] = []        # each with its own stream over self.estimator
        self._tracker_config = None
        self._next_ids: dict[str, int] = {}    # per camera: ids continue across tracker rebuilds (never reused)
        self._reloading: str | None = None     # the model being loaded, for diagnostics
        self._subs: list = []
        self._outputs: list = []               # publishers and the diagnostics timer (configured state)
        self._worker: threading.Thread | None = None
        self._running = False                  # the worker takes frames (active state)
        self._active = False
        self._enabled = True                   # ~/enable: false pauses inference, the model stays loaded
        self.autostarting = False
        self.configure_error = ""
        # Frames, depth, CameraInfo and diagnostics in their own callback group: the parameter callback (a
        # model reload takes seconds) runs on the executor's other thread, so the old model keeps serving.
        self._frames = MutuallyExclusiveCallbackGroup()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        # Own group: pausing answers at once, even while the lifecycle or parameter services load a model.
        self.create_service(SetBool, "~/enable", self._on_enable, callback_group=MutuallyExclusiveCallbackGroup())

    # ------------------------------------------------------------------ lifecycle transitions
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read the parameters and load + warm up the model; publishers and diagnostics start."""
        try:
            self.p = values(self, POSE_NODE_PARAMS)
            set_log_level(self, self.p["log_level"])
            topics = plan_cameras(self.p)
            self.get_logger().info(f"loading model {self.p['model']!r}")
            estimator = load_estimator(self.p)
            FramePipeline(estimator).warm_up()
            reliable, compressed = self.p["qos_reliability"] == "reliable", self.p["compressed"]
            cameras = [Camera(t, FramePipeline(camera_view(estimator)), TransportCheck(reliable, compressed))
                       for t in topics]
            self._create_outputs(cameras)             # a bad topic name fails here, as one line
        except Exception as e:  # noqa: BLE001 - a failed load leaves the node unconfigured, still serving
            self._release_outputs()
            self.configure_error = str(e) if isinstance(e, (PoseError, ValueError)) else f"{type(e).__name__}: {e}"
            if not self.autostarting:                      # autostart: main() says it once, as FATAL
                self.get_logger().error(f"configure failed, staying unconfigured: {self.configure_error}")
            return TransitionCallbackReturn.FAILURE
        with self._lock:
            self.estimator, self.cameras = estimator, cameras
            self.mailbox = LatestMailboxes(len(cameras))
            self._tracker_config = None
            self._apply_result_params()
        many = f", serving {len(cameras)} cameras" if len(cameras) > 1 else ""
        self.get_logger().info(f"model ready: {estimator.describe()}{many}"
                               + ("" if "tensorflow" in sys.modules else " (TensorFlow not loaded)"))
        return TransitionCallbackReturn.SUCCESS

    def _create_outputs(self, cameras: list[Camera]) -> None:
        for cam in cameras:
            cam.pub_poses = self.create_publisher(PersonArray, cam.topics.poses, 10)
            cam.pub_markers = self.create_publisher(MarkerArray, cam.topics.markers, 5)
            cam.pub_annotated = self.create_publisher(Image, cam.topics.annotated, 5)
            self._outputs += [cam.pub_poses, cam.pub_markers, cam.pub_annotated]
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._outputs.append(self.pub_diag)
        self._outputs.append(self.create_timer(self.p["diagnostics_period"], self._publish_diagnostics,
                                               callback_group=self._frames))

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the camera topics and start the inference thread."""
        qos_in = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=self.p["qos_depth"],
            reliability=(ReliabilityPolicy.RELIABLE if self.p["qos_reliability"] == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT))
        for i, cam in enumerate(self.cameras):
            kind, topic = (CompressedImage, cam.topics.compressed) if self.p["compressed"] else \
                (Image, cam.topics.image)
            self._subs.append(self.create_subscription(kind, topic, partial(self._on_image, i), qos_in,
                                                       callback_group=self._frames))
            if self.p["depth"]:
                self._subs.append(self.create_subscription(Image, cam.topics.depth, partial(self._on_depth, i),
                                                           qos_in, callback_group=self._frames))
            if self.p["depth"] or cam.transport.needed:   # CameraInfo also tells the frame size before frames
                self._subs.append(self.create_subscription(CameraInfo, cam.topics.camera_info,
                                                           partial(self._on_camera_info, i), qos_in,
                                                           callback_group=self._frames))
            self.get_logger().info(f"listening on {self.resolve_topic_name(topic)}, publishing "
                                   f"{self.resolve_topic_name(cam.topics.poses)}")
        self._running, self._active = True, True
        self._worker = threading.Thread(target=self._work, name="pose_inference", daemon=True)
        self._worker.start()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop taking frames (the model stays loaded)."""
        self._stop_taking_frames()
        self.get_logger().info("inactive: not taking frames (model loaded)")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model; publishers and diagnostics stop."""
        self._release_outputs()
        self.get_logger().info("unconfigured: model freed")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_taking_frames()
        self._release_outputs()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_taking_frames()
        self._release_outputs()
        return TransitionCallbackReturn.SUCCESS            # back to unconfigured, ready to configure again

    def _stop_taking_frames(self) -> None:
        self._active = False
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self._running = False
        if self._worker is not None:
            self._worker.join(timeout=5.0)    # the frame in progress is finished and published
            self._worker = None
        if self.mailbox is not None:
            self.mailbox.clear()              # a frame left from before deactivation is never processed
        for cam in self.cameras:
            cam.depth.clear()

    def _release_outputs(self) -> None:
        for entity in self._outputs:
            if hasattr(entity, "cancel"):
                self.destroy_timer(entity)
            else:
                self.destroy_publisher(entity)
        self._outputs = []
        with self._lock:
            for cam in self.cameras:
                if cam.pipeline.tracker is not None:
                    self._next_ids[cam.topics.image] = cam.pipeline.tracker.next_id
            self.estimator, self.cameras = None, []
        gc.collect()                          # the model's graph and weights go now, not at some later point

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self._enabled = bool(request.data)
        if self._enabled:
            response.message = "inference resumed" + ("" if self._active else
                                                      " (the node is not active: activate it to take frames)")
        else:
            response.message = "inference paused; the model stays loaded"
        response.success = True
        self.get_logger().info(response.message)
        return response

    # ------------------------------------------------------------------ callbacks (cheap)
    def _on_image(self, index: int, msg) -> None:
        cam = self.cameras[index]
        self.stats.input.tick()
        cam.stats.input.tick()
        if not self._enabled:
            self.stats.count("paused")         # paused by ~/enable: not inferred, not counted as dropped
            return
        if isinstance(msg, Image):
            if cam.transport.needed:
                self._check_transport(cam, msg.width, msg.height, msg.encoding, len(msg.data))
            try:
                check_image_msg(msg, self.p["max_pixels"])
            except ImageError as e:
                self._bad_input(cam, e)
                return
        self.mailbox.put(index, Frame(msg, time.monotonic(), time.time()))

    def _bad_input(self, cam: Camera, error: ImageError) -> None:
        self.stats.count("bad_input")
        cam.stats.count("bad_input")
        where = "" if len(self.cameras) == 1 else f" ({cam.topics.image})"
        self.get_logger().warning(f"bad input frame skipped{where}: {error}")

    def _on_depth(self, index: int, msg: Image) -> None:
        self.cameras[index].depth.append(msg)      # converted only if a colour frame matches it

    def _on_camera_info(self, index: int, msg: CameraInfo) -> None:
        cam = self.cameras[index]
        if cam.transport.needed and msg.width and msg.height:
            self._check_transport(cam, msg.width, msg.height, "bgr8")
        if self.p["depth"]:
            cam.camera_info = msg

    def _check_transport(self, cam: Camera, width: int, height: int, encoding: str,
                         nbytes: int | None = None) -> None:
        problem = cam.transport.check(width, height, encoding, nbytes)
        if problem:      # once; it stays in the diagnostics
            self.get_logger().warning(problem if len(self.cameras) == 1 else f"{cam.topics.image}: {problem}")

    def _on_set_parameters(self, params) -> SetParametersResult:
        if self.estimator is None:           # unconfigured: on_configure reads the values
            return SetParametersResult(successful=True)
        new = dict(self.p)
        new.update({q.name: q.value for q in params if q.name in new})
        if any(new[k] != self.p[k] for k in MODEL_PARAMS):
            self._reloading = new["model"]             # frames meanwhile: the old model (other thread)
            self.get_logger().info(f"switching model to {new['model']!r}; {self.p['model']!r} serves frames "
                                   f"meanwhile")
            try:
                estimator = load_estimator(new)
                estimator.max_pixels = new["max_pixels"]
                FramePipeline(estimator).warm_up()     # before the swap: no slow first frame
            except Exception as e:  # noqa: BLE001 - any failed load (also TF errors) must keep the old model
                reason = f"model {new['model']!r} not loaded, keeping {self.p['model']!r}: {e}"
                self.get_logger().error(reason)
                return SetParametersResult(successful=False, reason=reason)
            finally:
                self._reloading = None
            with self._lock:
                self.estimator = estimator
                for cam in self.cameras:                # each camera: a fresh stream over the new model
                    cam.pipeline.stream = camera_view(estimator)
                    if cam.pipeline.tracker is not None:
                        cam.pipeline.tracker.reset()
            self.get_logger().info(f"model switched: {estimator.describe()}")
        with self._lock:
            self.p = new
            self._apply_result_params()
        return SetParametersResult(successful=True)

    def _make_tracker(self, first_id: int) -> PoseTracker | None:
        if not self.p["tracking"]:
            return None
        return PoseTracker(self.p["tracking_min_similarity"], self.p["tracking_max_age"], self.p["smoothing"],
                           self.p["smoothing_min_cutoff"], self.p["smoothing_beta"], first_id=first_id)

    def _apply_result_params(self) -> None:
        wanted = tuple(self.p[k] for k in ("tracking", "tracking_min_similarity", "tracking_max_age",
                                           "smoothing", "smoothing_min_cutoff", "smoothing_beta"))
        new_trackers = wanted != self._tracker_config     # a new tracker only when its settings change
        self._tracker_config = wanted
        self.estimator.max_pixels = self.p["max_pixels"]
        filters = result_filter(self.p)       # the estimator filters (the codec only decodes)
        for cam in self.cameras:
            pl = cam.pipeline
            shared = pl.stream.estimator          # the networks every camera's stream shares
            shared.min_person_score = filters["min_person_score"]
            shared.min_keypoint_score = filters["min_keypoint_score"]
            shared.max_pixels = self.p["max_pixels"]     # one limit: the parameter, also in the estimator
            pl.depth_window = self.p["depth_window"]
            if new_trackers:
                key = cam.topics.image
                if pl.tracker is not None:
                    self._next_ids[key] = pl.tracker.next_id
                pl.tracker = self._make_tracker(self._next_ids.get(key, 0))

    # ------------------------------------------------------------------ worker thread
    def _work(self) -> None:
        next_start = 0.0                      # max_rate: earliest start of the next inference
        while self._running:
            wait = next_start - time.monotonic()
            if wait > 0:                      # frames meanwhile replace each other in the mailbox
                time.sleep(min(wait, 0.5))
                continue
            got = self.mailbox.take(timeout=0.5)
            if got is None:
                continue
            index, frame = got
            cam = self.cameras[index]
            where = "" if len(self.cameras) == 1 else f" ({cam.topics.image})"
            rate = self.p["max_rate"]
            next_start = time.monotonic() + 1.0 / rate if rate > 0 else 0.0
            try:
                self._process(cam, frame)
            except ImageError as e:      # a compressed frame that does not decode
                self._bad_input(cam, e)
            except Exception as e:  # noqa: BLE001 - a node must keep serving; log the cause in one line
                if not self._running:      # stopping: publishing into a closed context is not a frame error
                    return
                self.stats.count("errors")
                cam.stats.count("errors")
                self.get_logger().error(f"frame failed{where}: {type(e).__name__}: {e}")

    def _process(self, cam: Camera, frame: Frame) -> None:
        msg = frame.msg
        if isinstance(msg, CompressedImage):
            image, color = compressed_to_bgr(msg, self.p["max_pixels"]), "bgr"
        else:       # converted once; an rgb8 frame stays RGB for the model (most want RGB)
            image, color = image_msg_to_array(msg, self.p["max_pixels"])
        h, w = image.shape[:2]
        depth = self._match_depth(cam, msg.header.stamp, (w, h)) if self.p["depth"] else None
        with self._lock:
            pipeline, p = cam.pipeline, self.p
            if self.estimator is None:       # cleaned up meanwhile
                return
            people, timing = pipeline.process(image, stamp_seconds(msg.header.stamp), depth, color=color)
        est = pipeline.stream
        cam.pub_poses.publish(people_to_msg(people, msg.header, est.layout.name, est.name, w, h))
        done = time.monotonic()
        self.stats.processed.tick(done)
        self.stats.count("processed")
        cam.stats.processed.tick(done)
        cam.stats.count("processed")
        self.stats.estimator_ms.add(timing["total"])
        if self._reloading:
            self.stats.count("processed_during_reload")
        self.stats.latency_ms.add((done - frame.received) * 1000.0)
        self.stats.age_ms.add((time.time() - stamp_seconds(msg.header.stamp)) * 1000.0)
        # Drawing and markers cost CPU on every frame: only when someone listens.
        if p["publish_markers"] and cam.pub_markers.get_subscription_count():
            cam.pub_markers.publish(people_to_markers(people, msg.header, (w, h),
                                                      depth.k if depth is not None else self._k_or_none(cam),
                                                      use_3d=depth is not None))
        if p["publish_annotated"] and cam.pub_annotated.get_subscription_count():
            bgr = image if color == "bgr" else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)   # drawing is in BGR
            cam.pub_annotated.publish(numpy_to_image(draw_people(bgr, people), "bgr8", Image, msg.header))

    @staticmethod
    def _k_or_none(cam: Camera) -> np.ndarray | None:
        info = cam.camera_info
        if info is None:
            return None
        try:
            return check_intrinsics(np.asarray(info.k))
        except ImageError:
            return None

    def _match_depth(self, cam: Camera, stamp, size: tuple[int, int]) -> DepthFrame | None:
        """The depth frame nearest in stamp (within depth_max_dt) and a usable K; None (2D only) otherwise."""
        # No wait while no depth stream has ever been seen (a depth camera that is not running).
        t, deadline = stamp_seconds(stamp), time.monotonic() + (self.p["depth_wait"] if cam.depth else 0.0)
        while True:     # colour often arrives a little before its depth frame: wait up to depth_wait
            frames, info = list(cam.depth), cam.camera_info
            i = nearest_in_time([stamp_seconds(d.header.stamp) for d in frames], t, self.p["depth_max_dt"])
            if (i is not None and info is not None) or time.monotonic() >= deadline:
                break
            time.sleep(0.005)
        if i is None or info is None:
            self.stats.count("depth_unmatched")
            return None
        try:
            k = check_intrinsics(np.asarray(info.k))
            if info.width and info.height and (info.width, info.height) != size:
                k = scale_intrinsics(k, (info.width, info.height), size)   # calibrated at another resolution
            depth_m = depth_to_metres(image_to_numpy(frames[i], self.p["max_pixels"]))
        except ImageError as e:
            self.stats.count("bad_depth")
            self.get_logger().warning(f"depth not used for this frame: {e}")
            return None
        return DepthFrame(depth_m, k)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        s, counts = self.stats, self.stats.snapshot_counts()
        est, cameras, mailbox = self.estimator, self.cameras, self.mailbox
        if est is None or mailbox is None:   # being cleaned up
            return
        received, dropped = sum(mailbox.received), sum(mailbox.dropped)
        transport = next((c.transport.problem for c in cameras if c.transport.problem), None)
        kv = {
            "input_fps": f"{s.input.rate():.2f}", "processed_fps": f"{s.processed.rate():.2f}",
            "latency_ms_median": f"{s.latency_ms.median():.1f}", "latency_ms_max": f"{s.latency_ms.max():.1f}",
            "age_ms_median": f"{s.age_ms.median():.1f}", "estimator_ms_median": f"{s.estimator_ms.median():.1f}",
            "frames_received": str(received), "frames_processed": str(counts.get("processed", 0)),
            "frames_dropped": str(dropped), "bad_inputs": str(counts.get("bad_input", 0)),
            "bad_depth": str(counts.get("bad_depth", 0)), "depth_unmatched": str(counts.get("depth_unmatched", 0)),
            "errors": str(counts.get("errors", 0)), "model": est.name, "layout": est.layout.name,
            "runtime": est.runtime.describe(), "device": getattr(est.runtime, "device", "cpu"),
            "model_loading": self._reloading or "",
            "frames_processed_during_reload": str(counts.get("processed_during_reload", 0)),
            "transport": transport or "ok",
            "active": str(self._active).lower(), "enabled": str(self._enabled).lower(),
            "frames_paused": str(counts.get("paused", 0)), "max_rate": f"{self.p['max_rate']:g}",
            "cameras": str(len(cameras)),
            # What this process holds: a TFLite model (or a cached conversion) serves without TensorFlow.
            "tensorflow_loaded": str("tensorflow" in sys.modules).lower(), "rss_mb": f"{process_rss_mb():.0f}",
        }
        level, message = DiagnosticStatus.OK, "ok"
        if counts.get("errors", 0):
            level, message = DiagnosticStatus.WARN, "some frames failed (see log)"
        elif transport:
            level, message = DiagnosticStatus.WARN, "raw frames too large for best_effort transport (see log)"
        elif received and dropped / received > 0.5 and not self.p["max_rate"]:
            level, message = DiagnosticStatus.WARN, "dropping most frames: camera faster than the model"
        status = DiagnosticStatus(level=level, name=f"{self.get_name()}: pose estimation", message=message,
                                  hardware_id=est.name, values=[KeyValue(key=k, value=v) for k, v in kv.items()])
        arr = DiagnosticArray(status=[status])
        if len(cameras) > 1:                 # then one status per camera, after the node's
            arr.status += [self._camera_status(c, mailbox.received[i], mailbox.dropped[i], est.name)
                           for i, c in enumerate(cameras)]
        arr.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(arr)

    def _camera_status(self, cam: Camera, received: int, dropped: int, model: str) -> DiagnosticStatus:
        counts = cam.stats.snapshot_counts()
        kv = {"image_topic": self.resolve_topic_name(cam.topics.image),
              "poses_topic": self.resolve_topic_name(cam.topics.poses),
              "input_fps": f"{cam.stats.input.rate():.2f}", "processed_fps": f"{cam.stats.processed.rate():.2f}",
              "frames_received": str(received), "frames_processed": str(counts.get("processed", 0)),
              "frames_dropped": str(dropped), "bad_inputs": str(counts.get("bad_input", 0)),
              "errors": str(counts.get("errors", 0)), "transport": cam.transport.problem or "ok"}
        level, message = DiagnosticStatus.OK, "ok"
        if counts.get("errors", 0) or counts.get("bad_input", 0) or cam.transport.problem:
            level, message = DiagnosticStatus.WARN, "bad or failed frames, or transport (see log)"
        return DiagnosticStatus(level=level, name=f"{self.get_name()}: camera {cam.topics.name}", message=message,
                                hardware_id=model, values=[KeyValue(key=k, value=v) for k, v in kv.items()])

    def destroy_node(self):
        self._running = False
        self._active = False
        if getattr(self, "mailbox", None) is not None:
            self.mailbox.close()
        if getattr(self, "_worker", None) is not None:     # absent when __init__ failed
            self._worker.join(timeout=5.0)
        return super().destroy_node()


def set_log_level(node: Node, level: str) -> None:
    """log_level parameter: the node's logger; 'debug' also shows TensorFlow's own C++ log lines."""
    levels = {"debug": LoggingSeverity.DEBUG, "info": LoggingSeverity.INFO, "warn": LoggingSeverity.WARN,
              "error": LoggingSeverity.ERROR}
    if level not in levels:
        raise ValueError(f"parameter 'log_level' must be one of {', '.join(levels)}, not {level!r}")
    node.get_logger().set_level(levels[level])
    if level == "debug":
        quiet.quiet_tensorflow(verbose=True)


def main(args=None) -> int:
    quiet.quiet_tensorflow()          # before TensorFlow is imported (the model load); log_level:=debug undoes
    code = init_ros("pose_node", args)
    if code:
        return code
    exits = SignalExit("pose_node")   # a signal while the model loads: one line, exit 0
    try:
        node = PoseNode()
        if node.p["autostart"]:
            node.autostarting = True     # configure + activate now, as a plain node would start
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                node.destroy_node()
                raise PoseError(node.configure_error)
            node.trigger_activate()
            node.autostarting = False
        else:
            node.get_logger().info("autostart is off: unconfigured, waiting for lifecycle transitions "
                                   "(configure, then activate)")
    except (PoseError, ValueError, ParameterException) as e:
        # One readable line (missing model file, unknown model, bad parameter type), then exit non-zero.
        rclpy.logging.get_logger("pose_node").fatal(f"cannot start: {e}")
        rclpy.try_shutdown()
        return exits.finish(1)
    # Two threads: frames (one callback group) keep flowing while a parameter callback reloads the model.
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)

    def stop() -> None:               # from the signal watcher thread
        node._running = False
        rclpy.try_shutdown()          # wakes the executor; results still in flight are dropped silently
    exits.running(stop)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return exits.finish(0)


if __name__ == "__main__":
    sys.exit(main())
