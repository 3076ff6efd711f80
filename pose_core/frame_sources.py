"""Frame sources for the source node, the bag writer and the CLI: an image folder, a video file or a webcam."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from pose_core.errors import ImageError
from pose_core.image_io import read_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def describe(source: str) -> str:
    if source.isdigit() or source.startswith("/dev/video"):
        return f"webcam {source}"
    p = Path(source)
    if p.is_dir():
        return f"image folder {p} ({len(list_images(p))} images)"
    return f"{'video' if p.suffix.lower() not in IMAGE_SUFFIXES else 'image'} {p}"


def list_images(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)


def iter_frames(source: str, loop: bool = False, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """BGR uint8 frames from `source` (folder, image, video file, webcam index or /dev/videoN).
    size (w, h) resizes every frame. Unreadable images in a folder are skipped, not fatal."""
    while True:
        n = 0
        for frame in _frames_once(source):
            n += 1
            yield frame if size is None else cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        if not loop or n == 0:
            return


def _frames_once(source: str) -> Iterator[np.ndarray]:
    p = Path(source)
    if p.is_dir():
        images = list_images(p)
        if not images:
            raise ImageError(f"no images in folder {p}")
        for f in images:
            try:
                yield read_image(f)
            except ImageError:
                continue
        return
    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
        yield read_image(p)
        return
    is_cam = source.isdigit() or source.startswith("/dev/video")
    if not is_cam and not p.is_file():
        raise ImageError(f"source not found: {source} (an image folder, image, video file or webcam index)")
    cap = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not cap.isOpened():
        raise ImageError(f"cannot open {describe(source)}")
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()
