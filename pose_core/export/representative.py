"""Representative data for int8 calibration and export checks: images from a folder, a COCO json, a .txt
list or one file (or arrays from a callable), letterboxed to the network input as at inference."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np

from pose_core.errors import ExportError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def image_paths(source: Path) -> list[Path]:
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if source.suffix.lower() == ".json":   # COCO-format annotations: its images, beside or in images/
        import json
        try:
            images = json.loads(source.read_text())["images"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ExportError(f"{source}: not a COCO-format annotation file ({exc})") from None
        out = []
        for im in images:
            for base in (source.parent, source.parent / "images", source.parent.parent / "images"):
                if (base / im["file_name"]).is_file():
                    out.append(base / im["file_name"])
                    break
        return out
    if source.suffix.lower() == ".txt":
        return [Path(line.strip()) for line in source.read_text().splitlines() if line.strip()]
    if source.suffix.lower() in IMAGE_SUFFIXES:
        return [source]
    raise ExportError(f"representative data {source}: expected a folder of images, a COCO .json, "
                      f"or a .txt list of image paths")


def representative_images(source, input_size: tuple[int, int], count: int = 100) -> Callable:
    """A TFLite representative_dataset: yields [float32 (1, h, w, 3) RGB 0..255] letterboxed to
    input_size (w, h). source: folder / COCO json / .txt list / image path, or a callable returning an
    iterable of NHWC (or HWC) RGB arrays."""
    # The inference letterbox (pose_core.preprocess), so calibration sees the pixels the model will.
    import cv2

    from pose_core.preprocess import letterbox
    if callable(source):
        def from_callable():
            n = 0
            for batch in source():
                batch = np.asarray(batch, np.float32)
                for img in (batch if batch.ndim == 4 else batch[None]):
                    if n >= count:
                        return
                    yield [letterbox(img, input_size)[0][None]]
                    n += 1
        return from_callable
    paths = image_paths(Path(source))
    if not paths:
        raise ExportError(f"representative data {source}: no images found")
    paths = paths[:count]

    def from_files():
        for bgr in read_images(paths):
            rgb = cv2.cvtColor(letterbox(bgr, input_size)[0], cv2.COLOR_BGR2RGB)
            yield [rgb.astype(np.float32)[None]]
    return from_files


def read_images(paths):
    """BGR images of `paths`, in order; an unreadable one is skipped with a warning (calibration needs many
    images, not every one)."""
    import cv2

    for p in paths:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            log.warning("representative data: cannot read %s, skipped", p)
            continue
        yield bgr
