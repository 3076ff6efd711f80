"""Source node for demos and tests: publishes an image folder, a video file or a webcam as sensor_msgs/Image
(and optionally CompressedImage) with a frame_id and the current time as stamp, at a chosen rate.

    pose_source --ros-args -p source:=/path/to/photos -p rate:=10.0 -p frame_id:=camera_optical
    pose_source --ros-args -p source:=0 -p rate:=2          (webcam 0; an int index and an int rate are fine)
"""
from __future__ import annotations

import sys
import time

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from pose_core.errors import ImageError
from pose_core.frame_sources import describe, iter_frames
from pose_core.quiet import quiet_tensorflow
from pose_ros.image_conv import bgr_to_compressed, numpy_to_image
from pose_ros.params import Param, declare, descriptor, values
from pose_ros.shutdown import SignalExit, init_ros

SOURCE_PARAMS: dict[str, Param] = {
    "source": Param("0", "image folder, image file, video file, webcam index or /dev/videoN"),
    "rate": Param(10.0, "frames per second to publish", (0.1, 1000.0)),
    "frame_id": Param("camera_optical", "header.frame_id of the published images"),
    "topic": Param("image", "sensor_msgs/Image topic; compressed goes to <topic>/compressed"),
    "encoding": Param("bgr8", "bgr8 or rgb8"),
    "publish_compressed": Param(False, "also publish <topic>/compressed (jpeg)"),
    "publish_raw": Param(True, "publish the raw Image"),
    "loop": Param(False, "start again at the end of the folder/video"),
    "max_frames": Param(0, "stop after this many frames; 0 = until the source ends", (0, 10_000_000)),
    "width": Param(0, "resize to this width (0 = native; needs height)", (0, 16384)),
    "height": Param(0, "resize to this height (0 = native)", (0, 16384)),
    "wait_subscribers": Param(0, "wait until this many subscribers before the first frame", (0, 100)),
    "reliable": Param(True, "reliable QoS (lossless on loopback); false = best effort"),
}
# `-p source:=0` and `-p rate:=2` arrive as INTEGER parameters (ROS types command-line and launch values by
# their look), so these two accept any type and are checked and normalised here.
ANY_TYPE = ("source", "rate")


def declare_source_params(node: Node) -> None:
    declare(node, {k: v for k, v in SOURCE_PARAMS.items() if k not in ANY_TYPE})
    for name in ANY_TYPE:
        d: ParameterDescriptor = descriptor(name, SOURCE_PARAMS[name])
        d.dynamic_typing = True
        d.floating_point_range = []          # a range would pin the type to double; checked below instead
        node.declare_parameter(name, SOURCE_PARAMS[name].default, d)


def normalise(p: dict) -> dict:
    """source -> str (an int is a webcam index), rate -> float in range; ValueError naming the parameter."""
    src, rate = p["source"], p["rate"]
    if isinstance(src, bool) or not isinstance(src, (str, int)) or (isinstance(src, int) and src < 0):
        raise ValueError(f"parameter 'source' must be a path or a webcam index >= 0, not {src!r}")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise ValueError(f"parameter 'rate' must be a number of frames per second, not {rate!r}")
    lo, hi = SOURCE_PARAMS["rate"].range
    if not lo <= rate <= hi:
        raise ValueError(f"parameter 'rate' must be in [{lo}, {hi}] Hz, not {rate}")
    return dict(p, source=str(src), rate=float(rate))


class SourceNode(Node):
    def __init__(self, **kwargs):
        super().__init__("pose_source", **kwargs)
        declare_source_params(self)
        self.p = normalise(values(self, SOURCE_PARAMS))
        if self.p["encoding"] not in ("bgr8", "rgb8"):
            raise ValueError(f"encoding must be bgr8 or rgb8, not {self.p['encoding']!r}")
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE if self.p["reliable"]
                         else ReliabilityPolicy.BEST_EFFORT)
        self.pub = self.create_publisher(Image, self.p["topic"], qos)
        self.pub_c = self.create_publisher(CompressedImage, self.p["topic"].rstrip("/") + "/compressed", qos)
        size = (self.p["width"], self.p["height"]) if self.p["width"] and self.p["height"] else None
        self.frames = iter_frames(self.p["source"], loop=self.p["loop"], size=size)
        self.count = 0
        self.get_logger().info(f"publishing {describe(self.p['source'])} on "
                               f"{self.resolve_topic_name(self.p['topic'])} at {self.p['rate']} Hz")

    def wait_for_subscribers(self, timeout: float = 60.0) -> None:
        want, end = self.p["wait_subscribers"], time.monotonic() + timeout
        while want and self.pub.get_subscription_count() + self.pub_c.get_subscription_count() < want:
            if time.monotonic() > end:
                self.get_logger().warning("subscribers did not appear; publishing anyway")
                return
            time.sleep(0.05)

    def publish_next(self) -> bool:
        """Publish one frame; False when the source is exhausted or max_frames reached."""
        if self.p["max_frames"] and self.count >= self.p["max_frames"]:
            return False
        frame = next(self.frames, None)
        if frame is None:
            return False
        stamp = self.get_clock().now().to_msg()
        if self.p["publish_raw"]:
            arr = frame if self.p["encoding"] == "bgr8" else frame[..., ::-1]
            msg = numpy_to_image(arr, self.p["encoding"], Image)
            msg.header.stamp, msg.header.frame_id = stamp, self.p["frame_id"]
            self.pub.publish(msg)
        if self.p["publish_compressed"]:
            cmsg = bgr_to_compressed(frame)
            cmsg.header.stamp, cmsg.header.frame_id = stamp, self.p["frame_id"]
            self.pub_c.publish(cmsg)
        self.count += 1
        return True


def main(args=None) -> int:
    quiet_tensorflow()
    code = init_ros("pose_source", args)
    if code:
        return code
    exits = SignalExit("pose_source")       # SIGINT/SIGTERM: one line, exit 0
    try:
        node = SourceNode()
    except (ImageError, ValueError, ParameterException) as e:
        rclpy.logging.get_logger("pose_source").fatal(f"cannot start: {e}")
        rclpy.try_shutdown()
        return exits.finish(1)
    exits.running(rclpy.try_shutdown)       # ends the loop below (rclpy.ok() turns false)
    # A fixed-rate loop (not a timer) so frames keep their spacing even when publishing one takes long.
    code = 0
    try:
        node.wait_for_subscribers()
        period, next_t = 1.0 / node.p["rate"], time.monotonic()
        while rclpy.ok():
            try:
                if not node.publish_next():
                    break
            except ImageError as e:
                node.get_logger().error(f"source failed: {e}")
                code = 1
                break
            next_t = max(next_t + period, time.monotonic() - period)  # after a stall, do not burst
            while rclpy.ok() and time.monotonic() < next_t:       # serve parameter services meanwhile
                # never negative: rclpy waits FOREVER on a negative timeout (the deadline may pass between
                # the check above and here on a loaded machine, which froze the camera)
                rclpy.spin_once(node, timeout_sec=max(0.0, next_t - time.monotonic()))
        if not exits.signalled:            # stopped by a signal: its one line says enough
            node.get_logger().info(f"published {node.count} frames")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:  # noqa: BLE001 - publishing into the context a signal just closed
        if not exits.signalled:
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return exits.finish(code)


if __name__ == "__main__":
    sys.exit(main())
