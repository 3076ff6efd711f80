"""Synthetic COCO-format keypoint dataset: articulated capsule figures with known COCO-17 keypoints.

No real pose dataset reaches the CI machine, so tests and smoke-training use this. Each image holds several
front-facing figures (left side on the image's right, as a person facing the camera) on a textured random
background. Later figures and random occluder blocks hide parts of earlier ones; a keypoint that is hidden
but inside the image is labelled with visibility 1, one outside the image is unlabelled (0, 0, 0), exactly
as COCO does. Tiny background figures are annotated without keypoints (num_keypoints 0) and an optional
crowd blob as `iscrowd: 1` with an RLE mask, so the readers' ignore-mask path is exercised too.

Everything is a pure function of (seed, image index): the same seed writes byte-identical files.

    python -m pose_core.data.synthetic --out DIR --images N --seed S [--size 320x240] [--format jpg]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from pose_core.layouts import COCO17

log = logging.getLogger(__name__)

K = COCO17.num_keypoints
_IDX = {name: i for i, name in enumerate(COCO17.keypoints)}
# Capsules drawn for the body (pairs of COCO-17 names); the torso and head are filled shapes.
_LIMB_NAMES = (("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
               ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
               ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
               ("right_hip", "right_knee"), ("right_knee", "right_ankle"))
_LIMBS = tuple((_IDX[a], _IDX[b]) for a, b in _LIMB_NAMES)
CATEGORY = {"id": 1, "name": "person", "supercategory": "person",
            "keypoints": list(COCO17.keypoints),
            "skeleton": [[a + 1, b + 1] for a, b in COCO17.skeleton]}  # COCO's skeleton is 1-based


@dataclass(frozen=True)
class SyntheticConfig:
    images: int = 16
    seed: int = 0
    # Fixed (w, h) for every image, or None for random sizes in [min_size, max_size] per side.
    size: tuple[int, int] | None = None
    min_size: int = 240
    max_size: int = 400
    people: tuple[int, int] = (1, 4)          # labelled figures per image, inclusive range
    person_height: tuple[float, float] = (0.45, 0.9)   # figure height as a fraction of the image height
    occluder_prob: float = 0.35               # chance of a random block on top of the figures
    unlabelled_person_prob: float = 0.3       # chance of a tiny figure annotated without keypoints
    crowd_prob: float = 0.15                  # chance of an iscrowd=1 blob of small figures
    image_format: str = "jpg"                 # jpg or png
    split: str = "train"


def _down(angle: float) -> np.ndarray:
    """Unit vector `angle` radians from straight down, positive towards image-right."""
    return np.array([np.sin(angle), np.cos(angle)])


def figure_keypoints(rng: np.random.Generator, height: float, hip: tuple[float, float]) -> np.ndarray:
    """(17, 2) COCO-17 keypoints of a random front-facing pose, `height` pixels from ankles to head top,
    hip centre at `hip`. Image y points down; the figure's left is on the image's right."""
    lean = rng.uniform(-0.25, 0.25)
    width = rng.uniform(0.6, 1.0)        # < 1: a body turned partly sideways
    up = np.array([np.sin(lean), -np.cos(lean)])   # torso axis (towards the head)
    right = np.array([-up[1], up[0]])              # image-right, perpendicular to the torso
    hip_c = np.asarray(hip, np.float64)
    neck = hip_c + 0.30 * height * up
    kp = np.zeros((K, 2))

    def at(name, p):
        kp[_IDX[name]] = p

    for side, sign in (("left", 1.0), ("right", -1.0)):
        shoulder = neck + sign * 0.11 * width * height * right
        hip_s = hip_c + sign * 0.08 * width * height * right
        at(f"{side}_shoulder", shoulder)
        at(f"{side}_hip", hip_s)
        # Arm: angle from "straight down", mirrored per side so poses look natural.
        a1 = lean + sign * rng.uniform(-0.3, 2.6)
        a2 = a1 + sign * rng.uniform(-0.4, 1.6)
        elbow = shoulder + 0.17 * height * _down(a1)
        wrist = elbow + 0.15 * height * _down(a2)
        at(f"{side}_elbow", elbow)
        at(f"{side}_wrist", wrist)
        l1 = lean + sign * rng.uniform(-0.15, 0.5)
        l2 = l1 - sign * rng.uniform(0.0, 0.6)
        knee = hip_s + 0.24 * height * _down(l1)
        ankle = knee + 0.23 * height * _down(l2)
        at(f"{side}_knee", knee)
        at(f"{side}_ankle", ankle)
    nose = neck + 0.13 * height * up
    at("nose", nose)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        at(f"{side}_eye", nose + height * (0.03 * sign * width * right + 0.025 * up))
        at(f"{side}_ear", nose + height * (0.065 * sign * width * right + 0.005 * up))
    return kp


def _draw_figure(canvas: np.ndarray, kp: np.ndarray, height: float, color) -> None:
    """Capsule limbs, filled torso quad and head disc on `canvas` (image or single-channel mask)."""
    thick = max(2, int(round(0.055 * height)))
    pts = np.round(kp).astype(np.int32)
    torso = pts[[_IDX["left_shoulder"], _IDX["right_shoulder"], _IDX["right_hip"], _IDX["left_hip"]]]
    cv2.fillConvexPoly(canvas, torso, color, cv2.LINE_AA)
    for a, b in _LIMBS:
        cv2.line(canvas, tuple(pts[a]), tuple(pts[b]), color, thick, cv2.LINE_AA)
        cv2.circle(canvas, tuple(pts[b]), thick // 2, color, -1, cv2.LINE_AA)
    neck = (kp[_IDX["left_shoulder"]] + kp[_IDX["right_shoulder"]]) / 2
    cv2.line(canvas, tuple(np.round(neck).astype(np.int32)), tuple(pts[_IDX["nose"]]), color, thick,
             cv2.LINE_AA)
    head_r = max(2, int(round(0.075 * height)))
    cv2.circle(canvas, tuple(pts[_IDX["nose"]]), head_r, color, -1, cv2.LINE_AA)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Smooth colour noise + random strokes and blocks: enough texture that a model cannot find people
    by colour alone."""
    coarse = rng.integers(0, 256, (rng.integers(3, 9), rng.integers(3, 9), 3), dtype=np.uint8)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(4, 12))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if rng.random() < 0.5:
            cv2.line(img, p1, p2, color, int(rng.integers(1, 6)), cv2.LINE_AA)
        else:
            cv2.rectangle(img, p1, p2, color, -1)
    noise = rng.normal(0, 8, img.shape)
    return np.clip(img.astype(np.float64) + noise, 0, 255).astype(np.uint8)


def _person_color(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(30, 230, 3))


def _polygons(mask: np.ndarray) -> list[list[float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    # COCO polygons need >= 3 points (6 numbers).
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def _box(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def render_image(cfg: SyntheticConfig, index: int) -> tuple[np.ndarray, list[dict]]:
    """One synthetic image (BGR uint8) and its COCO annotations (without ids)."""
    rng = np.random.default_rng([cfg.seed, index])
    if cfg.size is not None:
        w, h = cfg.size
    else:
        w, h = (int(v) for v in rng.integers(cfg.min_size, cfg.max_size + 1, 2))
    img = _background(rng, w, h)
    owner = np.full((h, w), -1, np.int32)      # which figure is in front at each pixel (-1 = none)
    figures = []                                # (kind, keypoints or None, mask)

    def add(kind, kp, height):
        mask = np.zeros((h, w), np.uint8)
        _draw_figure(mask, kp, height, 1)
        _draw_figure(img, kp, height, _person_color(rng))
        owner[mask > 0] = len(figures)
        figures.append((kind, kp, mask))

    if rng.random() < cfg.crowd_prob:            # drawn first: at the back
        cx, cy = rng.uniform(0.2 * w, 0.8 * w), rng.uniform(0.2 * h, 0.6 * h)
        crowd = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(3, 6))):
            fh = rng.uniform(0.12, 0.2) * h
            kp = figure_keypoints(rng, fh, (cx + rng.uniform(-0.12, 0.12) * w, cy + rng.uniform(-0.05, 0.05) * h))
            _draw_figure(img, kp, fh, _person_color(rng))
            _draw_figure(crowd, kp, fh, 1)
        owner[crowd > 0] = len(figures)
        figures.append(("crowd", None, crowd))
    if rng.random() < cfg.unlabelled_person_prob:
        fh = rng.uniform(0.08, 0.14) * h
        kp = figure_keypoints(rng, fh, (rng.uniform(0.1, 0.9) * w, rng.uniform(0.2, 0.8) * h))
        add("unlabelled", kp, fh)
    for _ in range(int(rng.integers(cfg.people[0], cfg.people[1] + 1))):
        fh = rng.uniform(*cfg.person_height) * h
        hip = (rng.uniform(0.1, 0.9) * w, rng.uniform(0.45, 0.7) * h)
        add("person", figure_keypoints(rng, fh, hip), fh)
    if rng.random() < cfg.occluder_prob:
        bw, bh = int(rng.uniform(0.1, 0.3) * w), int(rng.uniform(0.1, 0.3) * h)
        x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        img[y0:y0 + bh, x0:x0 + bw] = _background(rng, bw, bh)
        owner[y0:y0 + bh, x0:x0 + bw] = -1

    anns = []
    for i, (kind, kp, mask) in enumerate(figures):
        visible_mask = owner == i
        if kind == "crowd":
            rle = mask_utils.encode(np.asfortranarray(mask))
            rle["counts"] = rle["counts"].decode("ascii")
            anns.append({"iscrowd": 1, "segmentation": rle, "area": float(mask.sum()), "bbox": _box(mask),
                         "num_keypoints": 0, "keypoints": [0] * (3 * K)})
            continue
        flat = []
        labelled = 0
        for x, y in kp:
            xi, yi = int(np.floor(x)), int(np.floor(y))
            if kind != "person" or not (0 <= xi < w and 0 <= yi < h):
                flat += [0, 0, 0]                       # unlabelled (outside the image / not annotated)
                continue
            v = 2 if visible_mask[yi, xi] else 1          # 1 = labelled but hidden
            flat += [round(float(x), 2), round(float(y), 2), v]
            labelled += 1
        polys = _polygons(visible_mask & (mask > 0))
        if not polys:                                    # fully hidden: COCO would not annotate it
            continue
        anns.append({"iscrowd": 0, "segmentation": polys, "area": float(visible_mask.sum()),
                     "bbox": _box(visible_mask), "num_keypoints": labelled, "keypoints": flat})
    return img, anns


def generate_dataset(out_dir: str | Path, images: int = 16, seed: int = 0, **options) -> Path:
    """Write `images` synthetic images to out_dir/images/ and COCO keypoint annotations to
    out_dir/annotations/person_keypoints_<split>.json; return the annotation file's path.
    options: any other SyntheticConfig field (size=(w, h), people=(lo, hi), image_format, ...)."""
    cfg = SyntheticConfig(images=images, seed=seed, **options)
    if cfg.image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be jpg or png, not {cfg.image_format!r}")
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    coco = {"info": {"description": f"pose_ros synthetic figures, seed {seed}"},
            "images": [], "annotations": [], "categories": [CATEGORY]}
    for i in range(cfg.images):
        img, anns = render_image(cfg, i)
        name = f"{i:06d}.{cfg.image_format}"
        params = [cv2.IMWRITE_JPEG_QUALITY, 92] if cfg.image_format == "jpg" else []
        if not cv2.imwrite(str(out / "images" / name), img, params):
            raise OSError(f"could not write {out / 'images' / name}")
        image_id = i + 1
        coco["images"].append({"id": image_id, "file_name": name, "width": img.shape[1],
                               "height": img.shape[0]})
        for ann in anns:
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": image_id,
                                        "category_id": 1, **ann})
    path = out / "annotations" / f"person_keypoints_{cfg.split}.json"
    path.write_text(json.dumps(coco))
    log.info("wrote %d images, %d annotations to %s", cfg.images, len(coco["annotations"]), out)
    return path


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 320x240, not {text!r}") from None
    return w, h


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pose_core.data.synthetic", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output directory (images/ and annotations/ are created)")
    p.add_argument("--images", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=_parse_size, default=None, help="fixed WxH (default: random per image)")
    p.add_argument("--people", type=int, nargs=2, default=(1, 4), metavar=("MIN", "MAX"))
    p.add_argument("--format", dest="image_format", choices=("jpg", "png"), default="jpg")
    p.add_argument("--split", default="train")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    path = generate_dataset(args.out, args.images, args.seed, size=args.size, people=tuple(args.people),
                            image_format=args.image_format, split=args.split)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
