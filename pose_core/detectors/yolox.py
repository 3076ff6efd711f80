"""YOLOX box decoding (anchor-free, one prediction per grid cell at strides 8, 16, 32).

Each output row is (dx, dy, log_w, log_h, objectness, class scores...) for one cell; rows are ordered
stride by stride, row-major within a stride. Published YOLOX exports apply the sigmoid to objectness and
class scores inside the graph but leave the box terms raw, so:
    cx = (dx + col) * stride, cy = (dy + row) * stride, w = exp(log_w) * stride, h = exp(log_h) * stride
    score = objectness * class score
"""
from __future__ import annotations

import cv2
import numpy as np

from pose_core.detectors.base import BoxDecoder, PersonBox


class YoloxDecoder(BoxDecoder):
    def __init__(self, strides=(8, 16, 32), class_id: int = 0, score_threshold: float = 0.3,
                 nms_iou: float = 0.65, max_people: int = 20, min_size: float = 2.0):
        self.strides = tuple(int(s) for s in strides)
        self.class_id = int(class_id)
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_people = int(max_people)
        self.min_size = float(min_size)        # boxes narrower/shorter than this (pixels) are noise
        self._grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _grid(self, input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) cell (col, row) and (N, 1) stride for every output row at this input size."""
        if input_size not in self._grids:
            w, h = input_size
            cells, strides = [], []
            for s in self.strides:
                rows, cols = np.mgrid[0:h // s, 0:w // s]
                cells.append(np.stack([cols.ravel(), rows.ravel()], 1))
                strides.append(np.full((cols.size, 1), s))
            self._grids[input_size] = (np.concatenate(cells).astype(np.float32),
                                       np.concatenate(strides).astype(np.float32))
        return self._grids[input_size]

    def decode(self, outputs: list[np.ndarray], input_size: tuple[int, int]) -> list[PersonBox]:
        raw = np.asarray(outputs[0], np.float32).reshape(-1, outputs[0].shape[-1])
        cells, strides = self._grid(tuple(input_size))
        if len(raw) != len(cells):
            raise ValueError(f"YOLOX output has {len(raw)} rows; {len(cells)} expected for input "
                             f"{input_size[0]}x{input_size[1]} at strides {self.strides}")
        scores = raw[:, 4] * raw[:, 5 + self.class_id]
        keep = scores >= self.score_threshold
        if not keep.any():
            return []
        raw, cells, strides, scores = raw[keep], cells[keep], strides[keep], scores[keep]
        centre = (raw[:, :2] + cells) * strides
        size = np.exp(np.minimum(raw[:, 2:4], 10.0)) * strides     # clamp: exp overflow on garbage rows
        big = (size >= self.min_size).all(1)
        centre, size, scores = centre[big], size[big], scores[big]
        xywh = np.concatenate([centre - size / 2, size], 1)
        picked = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.score_threshold, self.nms_iou,
                                  top_k=self.max_people)
        boxes = []
        for i in np.asarray(picked, np.int64).ravel()[: self.max_people]:
            x, y, bw, bh = xywh[i]
            boxes.append(PersonBox(float(x), float(y), float(x + bw), float(y + bh), float(scores[i])))
        return sorted(boxes, key=lambda b: -b.score)
