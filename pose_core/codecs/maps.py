"""Map-level helpers shared by the decoders: averaging outputs for the flip test and multi-scale."""
from __future__ import annotations

import cv2
import numpy as np


def average_maps(outputs_list: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Mean of several outputs of one image, each map resized (bilinear) to the first's size."""
    first = outputs_list[0]
    result = []
    for i, ref in enumerate(first):
        h, w = ref.shape[:2]
        acc = np.zeros(ref.shape, np.float32)
        for outputs in outputs_list:
            m = np.asarray(outputs[i], np.float32)
            if m.shape[:2] != (h, w):
                m = _resize_channels(m, w, h)
            acc += m
        result.append(acc / len(outputs_list))
    return result


def _resize_channels(m: np.ndarray, w: int, h: int) -> np.ndarray:
    # cv2.resize handles at most 512 channels; resize in chunks beyond that.
    if m.shape[-1] <= 512:
        out = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
        return out.reshape(h, w, m.shape[-1])
    return np.concatenate([_resize_channels(m[..., i:i + 512], w, h)
                           for i in range(0, m.shape[-1], 512)], -1)
