"""The pose node's parameters as data: name -> (default, description, range, read_only). This is where the
node's defaults live; config/*.yaml files hold overrides only (test/test_ros_launch.py checks it). List them with
`ros2 param describe /pose_node <name>` or `python -m pose_ros.params`.

Types follow the defaults (str/bool/int/float); ranges become ROS descriptor ranges, so `ros2 param set`
rejects out-of-range values before the node sees them. Topics and QoS are read-only (fixed at start).
"""
from __future__ import annotations

from dataclasses import dataclass

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.parameter import Parameter

try:
    from rclpy.exceptions import ParameterUninitializedException
except ImportError:          # older rclpy: a typed parameter without a value reads as None
    ParameterUninitializedException = ()

from pose_core import stream, zoo
from pose_core.defaults import DEFAULT_MODEL
from pose_core.defaults import STREAM_DEFAULTS as S


@dataclass(frozen=True)
class Param:
    default: object          # a Parameter.Type instead: declared with that type and no value (None when unset)
    description: str
    range: tuple[float, float] | None = None
    read_only: bool = False


POSE_NODE_PARAMS: dict[str, Param] = {
    # model (changing any of these at runtime reloads the estimator; a failed load keeps the old one)
    "model": Param(DEFAULT_MODEL, "zoo name (pose models list) or path to an exported model folder/model.yaml"),
    "runtime": Param("", "runtime kind (frozen_graph, tflite, keras, saved_model, tfjs); '' = the model's default"),
    "device": Param("cpu", "cpu or gpu (gpu falls back to cpu with a log line)"),
    "threads": Param(0, "CPU threads for the runtime; 0 = runtime default", (0, 64)),
    "input_size": Param("", "network input 'WxH', 'native' or '' (the model's default)"),
    "crop_tracking": Param(False, "single-pose models (MoveNet lightning/thunder): crop each frame around "
                                  "the previous pose, as MoveNet's authors recommend for video"),
    "detect_every": Param(0, "top-down pipelines: run the person detector every N frames (and whenever a "
                             "person is lost), crop from tracked keypoints in between; 0 = the pipeline's "
                             "default, 1 = every frame", (0, 1000)),
    # results: the result filter (docs/ros.md "Score thresholds"); unset = the model's own value, else FILTER
    "min_person_score": Param(Parameter.Type.DOUBLE, "drop people scoring below this; unset = the model's zoo "
                              f"entry value, else {S['min_person_score']}", (0.0, 1.0)),
    "min_keypoint_score": Param(Parameter.Type.DOUBLE, "keypoints below this are reported as not detected "
                                f"(score 0); unset = the model's zoo entry value, else {S['min_keypoint_score']}",
                                (0.0, 1.0)),
    "max_pixels": Param(50_000_000, "reject larger input images (bad input guard)", (1, 500_000_000)),
    # topics and QoS (read-only)
    "image_topic": Param("image", "sensor_msgs/Image input; the compressed input is <image_topic>/compressed",
                         read_only=True),
    "image_topics": Param(Parameter.Type.STRING_ARRAY, "several cameras, one model: image topics served by this "
                          "node, each camera's outputs in its topic's namespace (/front/image_raw -> /front/poses); "
                          "unset = one camera on image_topic", read_only=True),
    "compressed": Param(False, "subscribe to <image_topic>/compressed (CompressedImage jpeg/png) instead",
                        read_only=True),
    "poses_topic": Param("poses", "pose_msgs/PersonArray output", read_only=True),
    "markers_topic": Param("pose_markers", "visualization_msgs/MarkerArray output", read_only=True),
    "annotated_topic": Param("image_annotated", "sensor_msgs/Image (bgr8) output with skeletons drawn",
                             read_only=True),
    "depth_topic": Param("depth", "aligned depth image (16UC1 mm or 32FC1 m), used when depth is on",
                         read_only=True),
    "camera_info_topic": Param("camera_info", "sensor_msgs/CameraInfo of the colour image (K)", read_only=True),
    "qos_reliability": Param("best_effort", "input QoS reliability: best_effort (sensor data) or reliable",
                             read_only=True),
    "qos_depth": Param(5, "input QoS history depth", (1, 100), read_only=True),
    # features
    "publish_markers": Param(True, "publish the MarkerArray"),
    "publish_annotated": Param(True, "publish the annotated image"),
    "tracking": Param(S["tracking"], "stable person ids across frames (OKS assignment)"),
    "tracking_min_similarity": Param(S["tracking_min_similarity"], "minimum keypoint similarity (OKS) to continue "
                                     "a track", (0.0, 1.0)),
    "tracking_max_age": Param(S["tracking_max_age"], "frames a lost track is kept before its id retires", (0, 1000)),
    "smoothing": Param(S["smoothing"], "One-Euro smoothing of tracked keypoints"),
    "smoothing_min_cutoff": Param(S["smoothing_min_cutoff"], "One-Euro minimum cutoff frequency (Hz)",
                                  (0.01, 100.0)),
    "smoothing_beta": Param(S["smoothing_beta"], "One-Euro speed coefficient", (0.0, 10.0)),
    "depth": Param(False, "lift keypoints to 3D from aligned depth + CameraInfo", read_only=True),
    "depth_window": Param(5, "side of the pixel window for the median depth per keypoint", (1, 31)),
    "depth_max_dt": Param(0.05, "max |stamp difference| (s) between a colour frame and its depth frame",
                          (0.0, 1.0)),
    "depth_wait": Param(0.05, "max seconds to wait for the depth frame of a colour frame that arrived first",
                        (0.0, 1.0)),
    "diagnostics_period": Param(1.0, "seconds between /diagnostics messages", (0.1, 60.0), read_only=True),
    "log_level": Param("info", "debug, info, warn or error; debug also shows TensorFlow's own C++ log lines "
                               "(hidden otherwise)", read_only=True),
    # lifecycle and load
    "autostart": Param(True, "configure and activate at start; false = wait for lifecycle transitions (a "
                             "lifecycle manager)", read_only=True),
    "max_rate": Param(0.0, "most inferences per second, on the newest frame (frees CPU for the robot); "
                           "0 = as fast as frames come", (0.0, 1000.0)),
}

# The result filter where neither the user nor the model's zoo entry gives a value (pose_core.defaults).
FILTER_DEFAULTS = {k: S[k] for k in zoo.FILTER_KEYS}

# Changing any of these rebuilds the estimator.
MODEL_PARAMS = ("model", "runtime", "device", "threads", "input_size", "crop_tracking", "detect_every")


def result_filter(p: dict) -> dict[str, float]:
    """The node's result filter for the loaded model p["model"] (pose_core.stream.result_filter, as `pose video`)."""
    return stream.result_filter(p["model"], p["min_person_score"], p["min_keypoint_score"])


def descriptor(name: str, p: Param) -> ParameterDescriptor:
    d = ParameterDescriptor(name=name, description=p.description, read_only=p.read_only)
    if p.range is not None:
        lo, hi = p.range
        typed = isinstance(p.default, Parameter.Type)          # an IntEnum: not an int default
        if (p.default == Parameter.Type.INTEGER) if typed else (isinstance(p.default, int)
                                                                and not isinstance(p.default, bool)):
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    return d


def declare(node, table: dict[str, Param]) -> None:
    node.declare_parameters("", [(name, p.default, descriptor(name, p)) for name, p in table.items()])


def values(node, table: dict[str, Param]) -> dict[str, object]:
    return {name: _value(node, name) for name in table}


def _value(node, name: str):
    try:
        return node.get_parameter(name).value
    except ParameterUninitializedException:         # declared by type only and not given
        return None


def main() -> None:
    """Print every parameter with its default and description (the node's defaults, one place)."""
    for name, p in POSE_NODE_PARAMS.items():
        default = "(unset)" if isinstance(p.default, Parameter.Type) else repr(p.default)
        print(f"{name} = {default}{' [read-only]' if p.read_only else ''}: {p.description}")


if __name__ == "__main__":
    main()
