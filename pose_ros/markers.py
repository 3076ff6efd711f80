"""People -> visualization_msgs/MarkerArray for RViz: per person one SPHERE_LIST (joints) and one LINE_LIST
(limbs), coloured per person, in the image's frame_id.

With depth the markers sit at the keypoints' 3D positions. Without depth they are drawn on a virtual image
plane 1 m in front of the camera (pixel rays through K, or a ~53 degree field of view without CameraInfo),
so the skeleton overlays the camera's view in RViz.
"""
from __future__ import annotations

import colorsys

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from pose_core.people import Person

NAMESPACE_JOINTS, NAMESPACE_LIMBS = "joints", "limbs"


def person_rgba(track_id: int, index: int) -> ColorRGBA:
    key = track_id if track_id >= 0 else index
    r, g, b = colorsys.hsv_to_rgb((key * 0.618034) % 1.0, 0.85, 1.0)
    return ColorRGBA(r=r, g=g, b=b, a=1.0)


def _points(person: Person, k: np.ndarray | None, size: tuple[int, int], use_3d: bool):
    """(K, 3) marker positions and a (K,) validity mask."""
    kp = person.keypoints
    if use_3d and person.keypoints_3d is not None:
        xyz = person.keypoints_3d[:, :3]
        return xyz, (person.keypoints_3d[:, 3] > 0) & np.isfinite(xyz).all(axis=1)
    w, h = size
    if k is not None:
        fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    else:
        fx = fy = float(w)
        cx, cy = w / 2.0, h / 2.0
    xyz = np.stack([(kp[:, 0] - cx) / fx, (kp[:, 1] - cy) / fy, np.ones(len(kp))], axis=1)
    return xyz, (kp[:, 2] > 0) & np.isfinite(xyz).all(axis=1)     # RViz gets no inf/NaN point


def people_to_markers(people: list[Person], header, image_size: tuple[int, int], k: np.ndarray | None = None,
                      use_3d: bool = False, joint_size: float = 0.03, line_width: float = 0.015,
                      lifetime_s: float = 0.5) -> MarkerArray:
    out = MarkerArray()
    # Clear last frame's people (their count and ids change frame to frame).
    out.markers.append(Marker(header=header, action=Marker.DELETEALL))
    scale_3d = 1.0 if use_3d else 0.25   # the virtual 1 m image plane is small: thinner markers
    for n, person in enumerate(people):
        xyz, ok = _points(person, k, image_size, use_3d)
        color = person_rgba(person.track_id, n)
        mid = person.track_id if person.track_id >= 0 else n
        joints = Marker(header=header, ns=NAMESPACE_JOINTS, id=mid, type=Marker.SPHERE_LIST,
                        action=Marker.ADD, color=color)
        joints.pose.orientation.w = 1.0
        joints.scale.x = joints.scale.y = joints.scale.z = joint_size * scale_3d
        joints.points = [Point(x=float(x), y=float(y), z=float(z)) for (x, y, z), v in zip(xyz, ok) if v]
        limbs = Marker(header=header, ns=NAMESPACE_LIMBS, id=mid, type=Marker.LINE_LIST,
                       action=Marker.ADD, color=color)
        limbs.pose.orientation.w = 1.0
        limbs.scale.x = line_width * scale_3d
        for a, b in person.layout.skeleton:
            if ok[a] and ok[b]:
                limbs.points.append(Point(x=float(xyz[a, 0]), y=float(xyz[a, 1]), z=float(xyz[a, 2])))
                limbs.points.append(Point(x=float(xyz[b, 0]), y=float(xyz[b, 1]), z=float(xyz[b, 2])))
        for m in (joints, limbs):
            m.lifetime.sec = int(lifetime_s)
            m.lifetime.nanosec = int((lifetime_s % 1.0) * 1e9)
            if m.points:
                out.markers.append(m)
    return out
