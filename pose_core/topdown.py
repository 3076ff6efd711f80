"""Top-down multi-person pose: person boxes from a detector, then a single-pose model on each person's crop.

    est = load_estimator("topdown/yolox-nano+movenet-thunder")       # pose_core.estimators
    people = est(image_bgr)                                           # like PoseEstimator

Why: a bottom-up or multi-pose network sees every person at the whole image's resolution, so small,
occluded and crowded people get few pixels. Here each person fills the single-pose network's input.
The crops of one frame run as ONE batched network call where the runtime accepts a batch.

Stateless: each call depends on its image only. On a stream (pose_core.stream.TopDownStream, which keeps the
last frame's keypoints) the detector runs every `detect_every` frames, whenever a tracked person is lost, and
on the first frame; in between, `track(frame, tracks)` takes each person's crop from their keypoints in the
last frame (MoveNet's crop recipe, one crop per person), so most frames cost only the pose network.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from pose_core.crops import box_from_keypoints, cut_crop, fit_box
from pose_core.detectors import PersonBox, PersonDetector
from pose_core.estimator import PoseEstimator
from pose_core.image_io import MAX_PIXELS, to_uint8_color
from pose_core.people import Person, filter_people
from pose_core.tracking import keypoint_similarity

log = logging.getLogger(__name__)

_TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
MIN_CROP_PIXELS = 2          # a box narrower or shorter than this carries no pose: skipped


class TopDownEstimator:
    """detector: PersonDetector. pose: a PoseEstimator over a single-pose model (one person per input).
    margin: crops are the box grown to the pose input's aspect ratio, times this factor (context around
    the person, as single-pose models were trained with). keypoint_threshold: keypoints above it count
    towards the person's score (box score x mean of those keypoint scores). min_person_score,
    min_keypoint_score: the result filter (pose_core.people.filter_people; the pose model's codec only
    decodes). max_people: at most this many boxes per frame go to the pose model. detect_every: this
    pipeline's default for its streams (pose_core.stream.TopDownStream)."""

    def __init__(self, detector: PersonDetector, pose: PoseEstimator, name: str = "", margin: float = 1.25,
                 flip_test: bool = False, keypoint_threshold: float = 0.2, min_person_score: float = 0.0,
                 min_keypoint_score: float = 0.0, max_people: int = 20, detect_every: int = 1,
                 letterbox: bool = True, max_pixels: int = MAX_PIXELS):
        if not getattr(pose.codec, "single_person", False):
            raise ValueError(f"{pose.name} is not a single-pose model; a top-down pipeline needs one "
                             f"(e.g. movenet/thunder, movenet/lightning, pose-mobile/hourglass)")
        if margin < 1.0 or detect_every < 1:
            raise ValueError("margin must be >= 1 and detect_every >= 1")
        self.detector, self.pose = detector, pose
        self.layout = pose.layout
        self.name = name or f"topdown:{detector.name}+{pose.name}"
        self.margin = float(margin)
        self.letterbox = bool(letterbox)
        self.flip_test = flip_test
        self.keypoint_threshold = float(keypoint_threshold)
        self.min_person_score, self.min_keypoint_score = float(min_person_score), float(min_keypoint_score)
        self.max_people = int(max_people)
        self.detect_every = int(detect_every)
        self.max_pixels = max_pixels
        self.input_size = pose.preprocessor.input_size          # (w, h) of every crop
        self.batched = _accepts_batches(pose)
        self._torso_idx = [self.layout.index(n) for n in _TORSO] if all(
            n in self.layout.keypoints for n in _TORSO) else None

    @property
    def runtime(self):
        """The per-person network's runtime (what most of a frame's time goes to); the detector's is
        self.detector.runtime."""
        return self.pose.runtime

    # ------------------------------------------------------------------ inference
    def __call__(self, image: np.ndarray, color: str = "bgr") -> list[Person]:
        return self.estimate(image, color=color)

    def estimate(self, image: np.ndarray, color: str = "bgr", return_timing: bool = False):
        people, timing, _ = self.track(image, None, color)
        return (people, timing) if return_timing else people

    def track(self, image: np.ndarray, tracks: list[np.ndarray] | None, color: str = "bgr"):
        """One frame of a stream -> (people, timing, detected). tracks: the last frame's keypoints, one (K, 3)
        per person: each crop comes from them, and the detector runs only when a tracked person is lost.
        None or []: the detector runs. detected: whether it ran."""
        t0 = time.perf_counter()
        frame, color = to_uint8_color(image, color, max_pixels=self.max_pixels)   # colour order kept
        timing = {"detect": 0.0, "network": 0.0, "preprocess": 0.0, "decode": 0.0}
        people = None
        if tracks:
            people = self._from_boxes(frame, self._boxes_from_tracks(tracks), timing, grow=False, color=color)
            # A person the crops lost (left, occluded, or the crop drifted off the torso): look again
            # with the detector on this frame.
            if len(people) < len(tracks) or not all(self._trackable(p) for p in people):
                people = None
        detected = people is None
        if detected:
            t = time.perf_counter()
            boxes = self.detector(frame, color)[: self.max_people]
            timing["detect"] = (time.perf_counter() - t) * 1000.0
            people = self._from_boxes(frame, boxes, timing, grow=True, color=color)
        people = _suppress_duplicates(people)
        timing["total"] = (time.perf_counter() - t0) * 1000.0
        return people, timing, detected

    def estimate_in_boxes(self, image: np.ndarray, boxes: list[PersonBox], color: str = "bgr") -> list[Person]:
        """Pose of the person in each given box (your own detector's, e.g. from another ROS node), in image
        pixels; boxes under 2 pixels are skipped."""
        image, color = to_uint8_color(image, color, max_pixels=self.max_pixels)
        return self._from_boxes(image, list(boxes), {"preprocess": 0.0, "network": 0.0, "decode": 0.0},
                                grow=True, color=color)

    def describe(self) -> str:
        return (f"{self.name} ({self.layout.name}) - detector {self.detector.runtime.describe()}, "
                f"pose {self.pose.runtime.describe()}{'' if self.batched else ', unbatched'}")

    # ------------------------------------------------------------------ steps
    def _trackable(self, person: Person) -> bool:
        """A crop can follow this person to the next frame: a shoulder and a hip are seen."""
        return self._torso_idx is None or box_from_keypoints(
            person.keypoints, self._torso_idx, self.keypoint_threshold) is not None

    def _boxes_from_tracks(self, tracks: list[np.ndarray]) -> list[PersonBox]:
        boxes = []
        for kps in tracks:
            box = box_from_keypoints(kps, self._torso_idx, self.keypoint_threshold) if self._torso_idx else None
            if box is None:           # no torso to centre on: the keypoints' own extent
                seen = kps[:, 2] > self.keypoint_threshold
                if not seen.any():
                    continue
                (x0, y0), (x1, y1) = kps[seen, :2].min(0), kps[seen, :2].max(0)
                box = fit_box((x0, y0, x1, y1), 1.0, self.margin)
            boxes.append(PersonBox(*box, score=1.0))
        return boxes

    def _from_boxes(self, frame: np.ndarray, boxes: list[PersonBox], timing: dict, grow: bool,
                    color: str = "bgr") -> list[Person]:
        t = time.perf_counter()
        w, h = self.input_size
        crops, transforms, kept = [], [], []
        for box in boxes:
            if box.width < MIN_CROP_PIXELS or box.height < MIN_CROP_PIXELS:
                continue
            margin = self.margin if grow else 1.0
            region = fit_box((box.x0, box.y0, box.x1, box.y1), w / h, margin)
            crop, transform = cut_crop(frame, region, (w, h))
            if self.letterbox:
                # Only the person's own (margin-grown) box is shown; the rest of the input is black like
                # the letterbox padding the model was trained with, so a neighbour cannot take the pose.
                _blank_outside(crop, transform, fit_box((box.x0, box.y0, box.x1, box.y1), None, margin))
            tensor, _ = self.pose.preprocessor(crop, (w, h), color)    # colour order, dtype and value scale only
            crops.append(tensor)
            transforms.append(transform)
            kept.append(box)
        if not crops:
            return []
        batch = np.stack(crops)
        if self.flip_test:
            batch = np.concatenate([batch, batch[:, :, ::-1]])
        t1 = time.perf_counter()
        outputs = self._run(batch)
        t2 = time.perf_counter()
        codec, n = self.pose.codec, len(crops)
        people = []
        for i, (box, transform) in enumerate(zip(kept, transforms)):
            out = [o[i] for o in outputs]
            if self.flip_test:
                out = codec.average([out, codec.flip_back([o[n + i] for o in outputs])])
            found = codec.decode(out, (w, h))
            if not found:
                continue
            (person,) = filter_people(found[:1], 0.0, self.min_keypoint_score)   # keypoints; the person below
            seen = person.keypoints[:, 2] > 0
            person.keypoints[seen, :2] = transform.to_image(person.keypoints[seen, :2])
            confident = person.keypoints[:, 2] > self.keypoint_threshold
            person.score = float(box.score * (person.keypoints[confident, 2].mean() if confident.any() else 0.0))
            if person.score < self.min_person_score:      # filter_people's rule, on the pipeline's score
                continue
            person.box = (box.x0, box.y0, box.x1, box.y1) if grow else person.bbox()
            people.append(person)
        t3 = time.perf_counter()
        timing["preprocess"] += (t1 - t) * 1000.0
        timing["network"] += (t2 - t1) * 1000.0
        timing["decode"] += (t3 - t2) * 1000.0
        return sorted(people, key=lambda p: -p.score)

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        if self.batched:
            return self.pose.runtime(batch)
        per_crop = [self.pose.runtime(batch[i:i + 1]) for i in range(len(batch))]
        return [np.concatenate([o[k] for o in per_crop]) for k in range(len(per_crop[0]))]


def _blank_outside(crop: np.ndarray, transform, box: tuple[float, float, float, float]) -> None:
    """Zero the crop's pixels outside `box` (frame pixels), in place."""
    h, w = crop.shape[:2]
    x0 = int(np.clip(np.floor((box[0] + 0.5) * transform.scale_x + transform.pad_x), 0, w))
    x1 = int(np.clip(np.ceil((box[2] + 0.5) * transform.scale_x + transform.pad_x), 0, w))
    y0 = int(np.clip(np.floor((box[1] + 0.5) * transform.scale_y + transform.pad_y), 0, h))
    y1 = int(np.clip(np.ceil((box[3] + 0.5) * transform.scale_y + transform.pad_y), 0, h))
    crop[:y0] = 0
    crop[y1:] = 0
    crop[:, :x0] = 0
    crop[:, x1:] = 0


def _accepts_batches(pose: PoseEstimator) -> bool:
    """Whether the pose runtime takes N crops in one call (TF functions with a batch dimension, TFLite
    models that resize to N); checked once on a zero batch of two. MoveNet's graphs unpack a batch of
    exactly one, in every runtime: those run crop by crop."""
    if not pose.runtime.batched:
        return False
    w, h = pose.preprocessor.input_size
    try:
        outputs = pose.runtime(np.zeros((2, h, w, 3), pose.runtime.input_dtype))
        single = pose.runtime(np.zeros((1, h, w, 3), pose.runtime.input_dtype))
    except Exception as exc:   # noqa: BLE001 - any runtime refusal means "one crop at a time"
        log.info("%s runs one crop per call (%s)", pose.name, str(exc).splitlines()[0][:120])
        return False
    return all(len(o) == 2 for o in outputs) and all(len(o) == 1 for o in single)


def _suppress_duplicates(people: list[Person], max_similarity: float = 0.9) -> list[Person]:
    """Two crops on one person (two boxes on one person, or tracks that converged) give nearly the same
    pose twice: of any two people whose poses agree with OKS > max_similarity, keep the better. Poses,
    not boxes: in a crowd two different people's boxes overlap heavily, their poses do not."""
    if len(people) < 2:
        return people
    sigmas = people[0].layout.sigma_array
    kept: list[Person] = []
    for p in sorted(people, key=lambda q: -q.score):
        x0, y0, x1, y1 = _keypoint_box(p)
        area = max((x1 - x0) * (y1 - y0), 1.0)
        if all(keypoint_similarity(p.keypoints, q.keypoints, sigmas, area) <= max_similarity for q in kept):
            kept.append(p)
    return kept


def _keypoint_box(p: Person) -> tuple[float, float, float, float]:
    pts = p.keypoints[p.keypoints[:, 2] > 0, :2]
    if len(pts) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    return (float(x0), float(y0), float(x1), float(y1))
