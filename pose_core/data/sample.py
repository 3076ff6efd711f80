"""The one in-memory record every dataset reader produces, and layout conversion between datasets/models.

Sample fields (all coordinates in ORIGINAL image pixels, x right, y down, pixel centres at integers):
  image_path      absolute path of the image file (read later by tf.io.read_file, so workers can too)
  image_size      (width, height); (0, 0) when the annotation does not say (AI Challenger) - the pipeline
                  takes the size from the decoded image
  keypoints       float32 (P, K, 3): per person (x, y, v) in `layout`'s order, COCO visibility convention:
                  v = 2 visible, 1 labelled but occluded, 0 unlabelled (x = y = 0)
  boxes           float32 (P, 4): (x0, y0, x1, y1) per person (from the annotation, else from keypoints)
  layout          the KeypointLayout the keypoints are in (the dataset's own until converted)
  ignore_regions  regions to leave out of the loss (crowds, people without keypoints): COCO segmentation
                  objects - a list of polygons [[x0, y0, x1, y1, ...], ...] or an RLE dict {size, counts}
  mask_path       optional mask image, same size as the image: nonzero = use in the loss, 0 = ignore.
                  Filled by `write_ignore_masks` from ignore_regions (or given by an own-format dataset)
  image_id        the dataset's id for the image (for error messages and evaluation)
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from pose_core.errors import DatasetError
from pose_core.layouts import KeypointLayout

log = logging.getLogger(__name__)

# Keypoints some layouts have and others lack, derived as the midpoint of two others (OpenPose's neck is
# COCO's mid-shoulders; the pelvis of MPII is mid-hips).
DERIVED_KEYPOINTS = {
    "neck": ("left_shoulder", "right_shoulder"),
    "thorax": ("left_shoulder", "right_shoulder"),
    "pelvis": ("left_hip", "right_hip"),
}


@dataclass
class Sample:
    image_path: str
    image_size: tuple[int, int]
    keypoints: np.ndarray
    layout: KeypointLayout
    boxes: np.ndarray | None = None
    ignore_regions: list = field(default_factory=list)
    mask_path: str = ""
    image_id: int | str = 0

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, np.float32).reshape(-1, self.layout.num_keypoints, 3)
        if self.boxes is None:
            self.boxes = boxes_from_keypoints(self.keypoints)
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)

    @property
    def num_people(self) -> int:
        return len(self.keypoints)


def boxes_from_keypoints(keypoints: np.ndarray) -> np.ndarray:
    boxes = np.zeros((len(keypoints), 4), np.float32)
    for i, kp in enumerate(keypoints):
        pts = kp[kp[:, 2] > 0, :2]
        if len(pts):
            boxes[i] = (*pts.min(0), *pts.max(0))
    return boxes


def convert_keypoints(keypoints: np.ndarray, source: KeypointLayout, target: KeypointLayout) -> np.ndarray:
    """(P, Ks, 3) in `source` order -> (P, Kt, 3) in `target` order. Keypoints the target has and the
    source lacks are derived (DERIVED_KEYPOINTS, labelled only if both parents are; visibility = the
    lower of the two) or left unlabelled."""
    out = np.zeros((len(keypoints), target.num_keypoints, 3), np.float32)
    for j, name in enumerate(target.keypoints):
        if name in source.keypoints:
            out[:, j] = keypoints[:, source.index(name)]
        elif name in DERIVED_KEYPOINTS and all(p in source.keypoints for p in DERIVED_KEYPOINTS[name]):
            a, b = (keypoints[:, source.index(p)] for p in DERIVED_KEYPOINTS[name])
            both = (a[:, 2] > 0) & (b[:, 2] > 0)
            out[both, j, :2] = (a[both, :2] + b[both, :2]) / 2
            out[both, j, 2] = np.minimum(a[both, 2], b[both, 2])
    return out


def to_layout(samples: list[Sample], target: KeypointLayout) -> list[Sample]:
    """Samples with keypoints re-expressed in `target` (e.g. a COCO-17 dataset for an OpenPose-18 model)."""
    return [s if s.layout == target else
            replace(s, keypoints=convert_keypoints(s.keypoints, s.layout, target), layout=target)
            for s in samples]


def ignore_mask(sample: Sample) -> np.ndarray:
    """uint8 (H, W): 1 where the loss applies, 0 inside the sample's ignore regions."""
    from pycocotools import mask as mask_utils

    w, h = sample.image_size
    keep = np.ones((h, w), np.uint8)
    for region in sample.ignore_regions:
        if isinstance(region, dict):   # RLE; uncompressed (list counts) must be converted first
            rle = mask_utils.frPyObjects(region, h, w) if isinstance(region["counts"], list) else region
            m = mask_utils.decode(rle)
        else:
            m = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(region, h, w)))
        keep[m.reshape(h, w) > 0] = 0
    return keep


def _image_size(path: str) -> tuple[int, int]:
    import cv2

    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetError(f"{path}: cannot read the image (needed for the size of its ignore mask)")
    return image.shape[1], image.shape[0]


def write_ignore_masks(samples: list[Sample], cache_dir: str | Path) -> list[Sample]:
    """Render each sample's ignore regions once into a PNG under cache_dir (255 = loss applies) and set
    mask_path, so the TF pipeline (and remote tf.data service workers sharing the filesystem) can read
    it with tf.io like the image. Samples without regions, or with a mask_path already, are unchanged."""
    import cv2

    cache = Path(cache_dir)
    out = []
    for s in samples:
        if s.mask_path or not s.ignore_regions:
            out.append(s)
            continue
        if s.image_size[0] <= 0 or s.image_size[1] <= 0:   # e.g. AI Challenger: no sizes in the file
            s = replace(s, image_size=_image_size(s.image_path))
        key = hashlib.sha1(f"{s.image_path}|{s.image_size}|{s.ignore_regions!r}".encode()).hexdigest()[:16]
        path = cache / f"{Path(s.image_path).stem}_{key}.png"
        if not path.exists():
            cache.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.png")
            cv2.imwrite(str(tmp), ignore_mask(s) * 255)
            tmp.replace(path)       # atomic: a concurrent reader never sees half a file
        out.append(replace(s, mask_path=str(path)))
    return out


@dataclass
class AnnotatedDataset:
    """What a reader returns: the samples, their layout, and counts of everything read or skipped."""
    samples: list[Sample]
    layout: KeypointLayout
    source: str
    counts: dict[str, int] = field(default_factory=dict)

    def __len__(self):
        return len(self.samples)

    def __iter__(self):
        return iter(self.samples)

    def __getitem__(self, i):
        return self.samples[i]

    def to_layout(self, target: KeypointLayout) -> "AnnotatedDataset":
        return replace(self, samples=to_layout(self.samples, target), layout=target)

    def log_summary(self) -> None:
        detail = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        log.info("%s: %d images with %d people (%s)", self.source, len(self.samples),
                 sum(s.num_people for s in self.samples), detail)
