"""rosbag2 (MCAP) tools built on `rosbags`, for machines without the ros2 CLI:

    pose_bag write OUT_DIR --source photos/ --rate 10        image folder / video -> bag of sensor_msgs/Image
    pose_bag play BAG_DIR [--rate 1.0] [--wait-subscribers 1] publish a bag's messages into the live graph
    pose_bag record OUT_DIR --topic /poses:pose_msgs/msg/PersonArray [--duration 10]
    pose_bag info BAG_DIR

Messages are serialized with rclpy (exactly the bytes ROS would record), so `ros2 bag play` on a real
install reads these bags, and `play` publishes the recorded bytes unchanged.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from pose_core.errors import ImageError

IMAGE_TYPE = "sensor_msgs/msg/Image"


def typestore():
    """rosbags type store (Kilted) plus the pose_msgs messages, read from their .msg files."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for f in sorted(msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(f.read_text(), f"pose_msgs/msg/{f.stem}"))
    store.register(types)
    return store


def msg_dir() -> Path:
    """pose_msgs/msg/ in the source tree, else the installed share/pose_msgs/msg. (Installed, the folder next
    to pose_ros is the generated Python package pose_msgs/msg, which holds no .msg files.)"""
    here = Path(__file__).resolve().parents[1] / "pose_msgs" / "msg"
    if (here / "PersonArray.msg").is_file():
        return here
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory("pose_msgs")) / "msg"


def write_images(out: Path, source: str, topic: str = "/image", rate: float = 10.0,
                 frame_id: str = "camera_optical", start_s: float | None = None, max_frames: int = 0,
                 repeat: int = 1) -> int:
    """Image folder / video -> rosbag2 MCAP with one Image per frame, stamps `1/rate` apart."""
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer
    from sensor_msgs.msg import Image

    from pose_core.frame_sources import iter_frames
    from pose_ros.image_conv import numpy_to_image
    from pose_ros.messages import make_stamp

    t0 = time.time() if start_s is None else start_s
    n = 0
    with Writer(out, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection(topic, IMAGE_TYPE, typestore=typestore())
        for _ in range(repeat):
            for frame in iter_frames(source):
                if max_frames and n >= max_frames:
                    break
                t = t0 + n / rate
                msg = numpy_to_image(frame, "bgr8", Image)
                msg.header.stamp, msg.header.frame_id = make_stamp(t), frame_id
                writer.write(conn, int(round(t * 1e9)), serialize_message(msg))
                n += 1
    return n


def read_messages(bag: Path):
    """-> iterator of (topic, msgtype, timestamp_ns, raw CDR bytes) in time order."""
    from rosbags.rosbag2 import Reader
    with Reader(bag) as reader:
        for conn, ts, raw in reader.messages():
            yield conn.topic, conn.msgtype, ts, bytes(raw)


def ros_type(msgtype: str):
    import importlib
    pkg, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


def play(bag: Path, rate: float = 1.0, wait_subscribers: int = 0, topics: list[str] | None = None,
         node=None, wait_timeout: float = 60.0) -> int:
    """Publish the bag's messages (raw bytes) keeping their relative timing / rate. Returns the count."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    own = node is None
    if own:
        if not rclpy.ok():
            rclpy.init()
        node = rclpy.create_node("pose_bag_play")
    try:
        from rosbags.rosbag2 import Reader
        with Reader(bag) as reader:
            conns = [c for c in reader.connections if not topics or c.topic in topics]
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        pubs = {c.topic: node.create_publisher(ros_type(c.msgtype), c.topic, qos) for c in conns}
        end = time.monotonic() + wait_timeout
        while wait_subscribers and min((p.get_subscription_count() for p in pubs.values()), default=0) \
                < wait_subscribers and time.monotonic() < end:
            time.sleep(0.05)
        n, first_ts, t_start = 0, None, time.monotonic()
        for topic, _, ts, raw in read_messages(bag):
            if not rclpy.ok():                # stopped by a signal
                break
            if topic not in pubs:
                continue
            first_ts = ts if first_ts is None else first_ts
            delay = (ts - first_ts) * 1e-9 / rate - (time.monotonic() - t_start)
            if delay > 0:
                time.sleep(delay)
            pubs[topic].publish(raw)     # rclpy publishes serialized bytes unchanged
            n += 1
        return n
    finally:
        if own:
            node.destroy_node()


def record(out: Path, topics: list[tuple[str, str]], duration: float, max_messages: int = 0) -> int:
    """Subscribe (raw) to topic:type pairs and write every message to an MCAP bag."""
    import rclpy
    from rosbags.rosbag2 import StoragePlugin, Writer

    if not rclpy.ok():
        rclpy.init()
    node = rclpy.create_node("pose_bag_record")
    store = typestore()
    n = 0
    with Writer(out, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for topic, msgtype in topics:
            conns[topic] = writer.add_connection(topic, msgtype, typestore=store)

            def cb(raw, topic=topic):
                nonlocal n
                writer.write(conns[topic], time.time_ns(), raw)
                n += 1
            node.create_subscription(ros_type(msgtype), topic, cb, 50, raw=True)
        end = time.monotonic() + duration
        while rclpy.ok() and time.monotonic() < end and not (max_messages and n >= max_messages):
            rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    return n


def info(bag: Path) -> str:
    from rosbags.rosbag2 import Reader
    with Reader(bag) as reader:
        lines = [f"{bag}: {reader.message_count} messages, {reader.duration * 1e-9:.2f} s"]
        lines += [f"  {c.topic} [{c.msgtype}] {c.msgcount} msgs" for c in reader.connections]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from pose_core.cli.parser import OneLineParser
    from pose_core.quiet import quiet_tensorflow

    quiet_tensorflow(filter_stderr=argv is None)
    ap = OneLineParser(prog="pose_bag", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="image folder / video -> MCAP bag of Image messages")
    w.add_argument("out", type=Path)
    w.add_argument("--source", required=True)
    w.add_argument("--topic", default="/image")
    w.add_argument("--rate", type=float, default=10.0)
    w.add_argument("--frame-id", default="camera_optical")
    w.add_argument("--max-frames", type=int, default=0)
    w.add_argument("--repeat", type=int, default=1)
    p = sub.add_parser("play", help="publish a bag into the live graph")
    p.add_argument("bag", type=Path)
    p.add_argument("--rate", type=float, default=1.0)
    p.add_argument("--wait-subscribers", type=int, default=0)
    p.add_argument("--topics", nargs="*")
    r = sub.add_parser("record", help="record topics (TOPIC:pkg/msg/Type) into an MCAP bag")
    r.add_argument("out", type=Path)
    r.add_argument("--topic", action="append", required=True)
    r.add_argument("--duration", type=float, default=10.0)
    r.add_argument("--max-messages", type=int, default=0)
    i = sub.add_parser("info", help="summarise a bag")
    i.add_argument("bag", type=Path)
    args, ros_args = ap.parse_known_args(argv)
    if ros_args and args.cmd not in ("play", "record"):      # only play/record take ROS arguments
        ap.error(f"unrecognized arguments: {' '.join(ros_args)}")
    for t in getattr(args, "topic", None) or [] if args.cmd == "record" else []:
        if ":" not in t or t.split(":", 1)[1].count("/") != 2:
            ap.error(f"--topic {t!r}: expected TOPIC:pkg/msg/Type, e.g. /poses:pose_msgs/msg/PersonArray")
    try:
        if args.cmd == "write":
            if args.out.exists():
                print(f"pose_bag: {args.out} exists; choose a new folder", file=sys.stderr)
                return 2
            n = write_images(args.out, args.source, args.topic, args.rate, args.frame_id,
                             max_frames=args.max_frames, repeat=args.repeat)
            print(f"wrote {n} frames to {args.out}")
        elif args.cmd in ("play", "record"):
            import rclpy

            from pose_ros.shutdown import SignalExit, init_ros
            code = init_ros("pose_bag", ["pose_bag", *ros_args])
            if code:
                return code
            exits = SignalExit("pose_bag")
            exits.running(rclpy.try_shutdown)     # play/record loops end when rclpy.ok() turns false
            try:
                if args.cmd == "play":
                    print(f"published {play(args.bag, args.rate, args.wait_subscribers, args.topics)} messages")
                else:
                    pairs = [tuple(t.split(":", 1)) for t in args.topic]
                    print(f"recorded {record(args.out, pairs, args.duration, args.max_messages)} messages")
            except Exception:  # noqa: BLE001 - publishing into the context a signal just closed
                if not exits.signalled:
                    raise
            rclpy.try_shutdown()
            return exits.finish(0)
        else:
            print(info(args.bag))
    except (ImageError, FileNotFoundError, ValueError) as e:
        print(f"pose_bag: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pose_bag: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
