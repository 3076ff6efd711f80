"""Skeleton overlays: one colour per limb (same hue for the same limb on every person), line widths and
joint radii scaled to the image so the drawing reads on a 200 px thumbnail and on a 4K frame alike."""
from __future__ import annotations

import colorsys
from functools import lru_cache

import cv2
import numpy as np

from pose_core.layouts import KeypointLayout
from pose_core.people import Person


@lru_cache(maxsize=None)
def limb_colors(n: int) -> tuple[tuple[int, int, int], ...]:
    """n well-separated BGR colours (evenly spaced hues, full saturation)."""
    out = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb(i / max(n, 1), 1.0, 1.0)
        out.append((int(b * 255), int(g * 255), int(r * 255)))
    return tuple(out)


def person_color(track_id: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((track_id * 0.618034) % 1.0, 0.8, 1.0)
    return (int(b * 255), int(g * 255), int(r * 255))


def draw_people(image_bgr: np.ndarray, people: list[Person], min_score: float = 0.0,
                show_ids: bool = True) -> np.ndarray:
    """Returns a copy of the image with every person's skeleton drawn."""
    canvas = image_bgr.copy()
    h, w = canvas.shape[:2]
    thickness = max(1, int(round(max(h, w) / 250)))
    radius = max(2, thickness + 1)
    for person in people:
        _draw_one(canvas, person, person.layout, thickness, radius, min_score)
        if show_ids and person.track_id >= 0:
            x0, y0, _, _ = person.bbox()
            cv2.putText(canvas, f"id {person.track_id}", (int(x0), max(12, int(y0) - 4)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, person_color(person.track_id),
                        thickness, cv2.LINE_AA)
    return canvas


def _draw_one(canvas, person: Person, layout: KeypointLayout, thickness, radius, min_score):
    kp = person.keypoints
    ok = kp[:, 2] > min_score
    colors = limb_colors(len(layout.skeleton))
    for (a, b), color in zip(layout.skeleton, colors):
        if ok[a] and ok[b]:
            cv2.line(canvas, _pt(kp[a]), _pt(kp[b]), color, thickness, cv2.LINE_AA)
    for i in np.flatnonzero(ok):
        cv2.circle(canvas, _pt(kp[i]), radius, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(canvas, _pt(kp[i]), radius, (0, 0, 0), 1, cv2.LINE_AA)


def _pt(row) -> tuple[int, int]:
    return int(round(float(row[0]))), int(round(float(row[1])))
