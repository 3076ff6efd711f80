"""Stable person ids across frames, plus optional One-Euro smoothing of keypoints. ROS-free.

Association: object keypoint similarity (OKS, COCO's metric, with the layout's sigmas) between each live
track's last keypoints and each new detection, solved as an assignment problem with scipy's
linear_sum_assignment. Pairs below `min_similarity` are not matched; unmatched detections start new tracks
(ids are never reused); tracks unseen for more than `max_age` frames are dropped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from pose_core.layouts import KeypointLayout
from pose_core.people import Person


def keypoint_similarity(a: np.ndarray, b: np.ndarray, sigmas: np.ndarray, area: float) -> float:
    """OKS between two (K, 3) keypoint arrays, over keypoints detected in both; 0 if none are shared."""
    both = (a[:, 2] > 0) & (b[:, 2] > 0)
    if not both.any():
        return 0.0
    d2 = np.sum((a[both, :2] - b[both, :2]) ** 2, axis=1)
    k2 = (2.0 * sigmas[both]) ** 2
    return float(np.mean(np.exp(-d2 / (2.0 * max(area, 1.0) * k2))))


def similarity_matrix(tracks: list[np.ndarray], detections: list[np.ndarray], sigmas: np.ndarray,
                      areas: list[float]) -> np.ndarray:
    """(T, D) OKS matrix; row t uses track t's box area as the COCO scale."""
    sim = np.zeros((len(tracks), len(detections)), np.float64)
    for t, (kp_t, area) in enumerate(zip(tracks, areas)):
        for d, kp_d in enumerate(detections):
            sim[t, d] = keypoint_similarity(kp_t, kp_d, sigmas, area)
    return sim


class OneEuroFilter:
    """One-Euro low-pass filter (Casiez et al., CHI 2012) over an array of values, one time step at a time:
    cutoff frequency rises with speed, so slow motion is smoothed and fast motion lags little."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._x is None or self._t is None or t <= self._t or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1.0 - a_d) * self._dx
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._dx), dt)
        self._x = a * x + (1.0 - a) * self._x
        self._t = t
        return self._x.copy()

    def restart(self, rows: np.ndarray, x: np.ndarray) -> None:
        """Forget the history of `rows` (bool mask over the first axis): they start again from `x`."""
        if self._x is not None and self._x.shape == np.shape(x):
            self._x[rows] = np.asarray(x, np.float64)[rows]
            self._dx[rows] = 0.0


@dataclass
class _Track:
    id: int
    keypoints: np.ndarray          # last (smoothed) keypoints, (K, 3)
    area: float
    missed: int = 0
    filter: OneEuroFilter | None = field(default=None, repr=False)


class PoseTracker:
    """Assigns `Person.track_id` in place, frame after frame. Call `update(people, stamp_s)` once per frame
    (stamp in seconds, used by the smoother); returns the same people with ids (and smoothed keypoints)."""

    def __init__(self, min_similarity: float = 0.3, max_age: int = 10, smoothing: bool = False,
                 min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0, first_id: int = 0):
        if not 0.0 <= min_similarity <= 1.0:
            raise ValueError(f"min_similarity must be in [0, 1], got {min_similarity}")
        self.min_similarity, self.max_age, self.smoothing = min_similarity, max_age, smoothing
        self._filter_args = (min_cutoff, beta, d_cutoff)
        self._tracks: list[_Track] = []
        self._layout: KeypointLayout | None = None
        self._next_id = first_id   # a replacement tracker continues the numbering: ids are never reused

    def reset(self) -> None:
        self._tracks, self._layout = [], None

    @property
    def next_id(self) -> int:
        return self._next_id

    @property
    def num_tracks(self) -> int:
        return len(self._tracks)

    def update(self, people: list[Person], stamp_s: float = 0.0) -> list[Person]:
        if people and self._layout is not None and people[0].layout.name != self._layout.name:
            self.reset()   # a different model/layout: old tracks cannot be compared with new keypoints
        if people:
            self._layout = people[0].layout
        matches, new = self._associate(people)
        for t, d in matches:
            track = self._tracks[t]
            track.missed = 0
            self._apply(track, people[d], stamp_s)
        matched_tracks = {t for t, _ in matches}
        for t, track in enumerate(self._tracks):
            if t not in matched_tracks:
                track.missed += 1
        self._tracks = [tr for tr in self._tracks if tr.missed <= self.max_age]
        for d in new:
            track = _Track(id=self._next_id, keypoints=people[d].keypoints.copy(), area=_area(people[d]),
                           filter=OneEuroFilter(*self._filter_args) if self.smoothing else None)
            self._next_id += 1
            self._apply(track, people[d], stamp_s)
            self._tracks.append(track)
        return people

    def _associate(self, people: list[Person]) -> tuple[list[tuple[int, int]], list[int]]:
        if not self._tracks or not people:
            return [], list(range(len(people)))
        sigmas = self._layout.sigma_array if self._layout is not None else people[0].layout.sigma_array
        sim = similarity_matrix([t.keypoints for t in self._tracks], [p.keypoints for p in people], sigmas,
                                [t.area for t in self._tracks])
        rows, cols = linear_sum_assignment(-sim)
        matches = [(int(r), int(c)) for r, c in zip(rows, cols) if sim[r, c] >= self.min_similarity]
        matched = {c for _, c in matches}
        return matches, [d for d in range(len(people)) if d not in matched]

    @staticmethod
    def _apply(track: _Track, person: Person, stamp_s: float) -> None:
        if track.filter is not None:
            visible = person.keypoints[:, 2] > 0
            # A keypoint that reappears must not be dragged from where it was last seen (or from 0, 0).
            track.filter.restart(visible & ~(track.keypoints[:, 2] > 0), person.keypoints[:, :2])
            smoothed = track.filter(person.keypoints[:, :2], stamp_s).astype(np.float32)
            # Only smooth what was detected now; undetected keypoints stay (0, 0, 0).
            person.keypoints[visible, :2] = smoothed[visible]
        person.track_id = track.id
        track.keypoints = person.keypoints.copy()
        track.area = _area(person)


def _area(person: Person) -> float:
    x0, y0, x1, y1 = person.bbox()
    return max((x1 - x0) * (y1 - y0), 1.0)
