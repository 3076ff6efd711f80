"""Person detectors: image -> person boxes, the first stage of top-down multi-person pose.

A detector is a zoo entry with `task: detector` (pose_core/zoo/detectors.yaml): the same runtimes, files,
downloads and checksums as pose models, plus a box decoder per model family (`codec: {name: yolox}`).

    det = load_detector("yolox/nano")
    for box in det(image_bgr):             # PersonBox, original image pixels, best first
        print(box.score, box.x0, box.y0, box.x1, box.y1)
"""
from __future__ import annotations

from pose_core.detectors.base import BoxDecoder, PersonBox
from pose_core.detectors.detector import PersonDetector, load_detector

__all__ = ["BoxDecoder", "PersonBox", "PersonDetector", "load_detector"]
