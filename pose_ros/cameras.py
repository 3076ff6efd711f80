"""Several cameras, one model: each camera's topics and its own stream over the shared estimator. ROS-free.

With `image_topics` unset the node has one camera on today's topics (`image_topic`, `poses_topic`, ...
relative names, remapped as usual). With `image_topics` every camera lives in the namespace of its image
topic: `/front/image_raw` -> outputs `/front/poses`, `/front/pose_markers`, `/front/image_annotated`,
inputs `/front/image_raw/compressed` (compressed:=true), `/front/depth`, `/front/camera_info` (depth:=true).
"""
from __future__ import annotations

from dataclasses import dataclass

from pose_core.stream import open_stream


@dataclass(frozen=True)
class CameraTopics:
    name: str            # the camera namespace ('' for the single default camera), for logs and diagnostics
    image: str           # sensor_msgs/Image topic; CompressedImage on image + '/compressed'
    depth: str
    camera_info: str
    poses: str
    markers: str
    annotated: str

    @property
    def compressed(self) -> str:
        return self.image.rstrip("/") + "/compressed"


def namespace_of(topic: str) -> str:
    """'/front/image_raw' -> '/front', 'left/image' -> 'left', '/image' -> '/', 'image' -> ''."""
    topic = topic.rstrip("/")
    if "/" not in topic:
        return ""
    ns = topic.rsplit("/", 1)[0]
    return ns or "/"


def _join(ns: str, name: str) -> str:
    return name if not ns else ("/" + name if ns == "/" else f"{ns}/{name}")


def plan_cameras(p: dict) -> list[CameraTopics]:
    """The cameras of the node's parameters p; ValueError (one line) for a list the node cannot serve."""
    topics = p.get("image_topics")
    if topics is None:                       # parameter not given: one camera, today's topic names
        return [CameraTopics("", p["image_topic"], p["depth_topic"], p["camera_info_topic"], p["poses_topic"],
                             p["markers_topic"], p["annotated_topic"])]
    topics = [str(t).strip() for t in topics]
    if not topics or any(not t or t.endswith("/") for t in topics):
        raise ValueError(f"parameter 'image_topics' must list one or more image topic names, not {topics!r}")
    if len(set(topics)) != len(topics):
        raise ValueError(f"parameter 'image_topics' names a topic twice: {topics!r}")
    outputs = ("depth_topic", "camera_info_topic", "poses_topic", "markers_topic", "annotated_topic")
    absolute = [k for k in outputs if p[k].startswith(("/", "~"))]
    if absolute:
        raise ValueError(f"with image_topics, {', '.join(absolute)} must be relative names (each camera gets "
                         f"its own, in the namespace of its image topic), not {p[absolute[0]]!r}")
    seen: dict[str, str] = {}
    cams = []
    for t in topics:
        ns = namespace_of(t)
        if ns in seen:
            raise ValueError(f"image topics {seen[ns]!r} and {t!r} share the namespace {ns or '(none)'!r}: give "
                             f"each camera its own namespace (e.g. /front/image_raw, /back/image_raw), its "
                             f"outputs go there")
        seen[ns] = t
        cams.append(CameraTopics(ns, t, *(_join(ns, p[k]) for k in outputs)))
    return cams


def camera_view(estimator):
    """This camera's stream over the loaded estimator (or stream, whose settings it keeps): the networks
    (runtimes, detector, decoder) are the SAME objects - one model in memory - while the per-stream state (a
    top-down pipeline's tracked crops and detection counter, a single-pose model's crop tracker) is the
    camera's own, starting fresh (pose_core.stream)."""
    return open_stream(estimator)
