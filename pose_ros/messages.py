"""pose_core people -> pose_msgs/PersonArray (the public message API; field meanings in pose_msgs/msg/*.msg)."""
from __future__ import annotations

import math

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point

from pose_core.people import Person
from pose_msgs.msg import Keypoint, PersonArray
from pose_msgs.msg import Person as PersonMsg


def person_to_msg(person: Person) -> PersonMsg:
    names = person.layout.keypoints
    kp3 = person.keypoints_3d
    kps = []
    for i, (x, y, s) in enumerate(person.keypoints):
        k = Keypoint(index=i, name=names[i], x=float(x), y=float(y), score=float(s))
        if kp3 is not None and kp3[i, 3] > 0 and all(math.isfinite(v) for v in kp3[i, :3]):
            k.position = Point(x=float(kp3[i, 0]), y=float(kp3[i, 1]), z=float(kp3[i, 2]))
            k.position_valid = True
        kps.append(k)
    x0, y0, x1, y1 = person.bbox()
    return PersonMsg(id=int(person.track_id), score=float(person.score), keypoints=kps,
                     x_min=float(x0), y_min=float(y0), width=float(x1 - x0), height=float(y1 - y0))


def people_to_msg(people: list[Person], header, layout: str, model: str, width: int,
                  height: int) -> PersonArray:
    return PersonArray(header=header, layout=layout, model=model, image_width=int(width),
                       image_height=int(height), persons=[person_to_msg(p) for p in people])


def stamp_seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def make_stamp(t: float) -> Time:
    sec = int(t)
    return Time(sec=sec, nanosec=min(int(round((t - sec) * 1e9)), 999_999_999))
