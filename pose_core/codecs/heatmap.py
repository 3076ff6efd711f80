"""Single-person heatmaps (CPM / Hourglass / DeeperCut style) <-> one person.

Per keypoint channel: the arg-max cell, refined to sub-pixel either from the heatmap itself (a Newton
step on the log of the 3x3 neighbourhood, exact for Gaussian peaks) or from the model's location
refinement offsets (DeeperCut: a second output of 2K channels, (dx, dy) per keypoint, in units of
locref_stdev pixels from the cell centre).
"""
from __future__ import annotations

import numpy as np

from pose_core.codecs.base import Codec
from pose_core.codecs.maps import average_maps
from pose_core.codecs.peaks import cells_to_pixels, refine_peaks
from pose_core.errors import ModelError
from pose_core.layouts import KeypointLayout
from pose_core.people import Person

REFINE_MODES = ("quadratic", "offsets", "none")


class HeatmapCodec(Codec):
    name = "heatmap"
    single_person = True          # one person per input: usable on top-down crops

    def __init__(self, layout: KeypointLayout, stride: int | None = None, threshold: float = 0.1,
                 refine: str = "quadratic", locref_stdev: float = 7.2801, sigma: float = 4.0,
                 locref_radius: float = 17.0):
        """
        stride: input pixels per map cell; None = input size / map size (for fixed-size models).
        threshold: keypoints whose peak is below it are undetected, (0, 0, 0).
        refine: "quadratic" (log-parabola / Taylor on the 3x3 neighbourhood), "offsets" (outputs[1]
            holds DeeperCut location-refinement offsets; x, y per keypoint, times locref_stdev
            pixels), or "none" (cell centres).
        sigma (input pixels), locref_stdev, locref_radius (input pixels): target geometry for encode()
            and the training target generators.
        """
        if refine not in REFINE_MODES:
            raise ValueError(f"refine must be one of {', '.join(REFINE_MODES)}, not {refine!r}")
        self.layout = layout
        self.stride = stride
        self.threshold = threshold
        self.refine = refine
        self.locref_stdev = locref_stdev
        self.sigma = sigma
        self.locref_radius = locref_radius

    def _strides(self, maps: np.ndarray, input_size: tuple[int, int]) -> tuple[float, float]:
        if self.stride:
            return float(self.stride), float(self.stride)
        return input_size[0] / maps.shape[1], input_size[1] / maps.shape[0]

    def decode(self, outputs: list[np.ndarray], input_size: tuple[int, int]) -> list[Person]:
        maps = np.asarray(outputs[0], np.float32)
        k = self.layout.num_keypoints
        if maps.ndim != 3 or maps.shape[-1] < k:
            raise ModelError(f"model output {maps.shape} does not fit the heatmap codec: it expects "
                             f"(H, W, {k}) maps for layout {self.layout.name}")
        maps = maps[..., :k]
        h, w, _ = maps.shape
        idx = maps.reshape(h * w, k).argmax(0)
        ys, xs = np.divmod(idx, w)
        chans = np.arange(k)
        scores = maps[ys, xs, chans]
        sx, sy = self._strides(maps, input_size)
        if self.refine == "quadratic":
            cx, cy, scores = refine_peaks(maps, chans, ys, xs)
            x, y = cells_to_pixels(cx, sx), cells_to_pixels(cy, sy)
        else:
            x, y = cells_to_pixels(xs, sx), cells_to_pixels(ys, sy)
            if self.refine == "offsets":
                if len(outputs) < 2 or outputs[1].shape[-1] < 2 * k:
                    raise ModelError(f"refine='offsets' needs a second output of {2 * k} location-"
                                     f"refinement channels; got {len(outputs)} output(s)")
                off = np.asarray(outputs[1], np.float32)[ys, xs].reshape(k, 2 * k)
                x = x + off[chans, 2 * chans] * self.locref_stdev
                y = y + off[chans, 2 * chans + 1] * self.locref_stdev
        found = scores >= self.threshold
        if not found.any():
            return []
        kps = np.zeros((k, 3), np.float32)
        kps[found] = np.stack([x, y, np.clip(scores, 0.0, 1.0)], 1)[found]
        return [Person(kps, float(kps[found, 2].mean()), self.layout)]

    # ------------------------------------------------------------------ flip test / multi-scale
    def flip_back(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        perm = self.layout.flip_permutation
        k = len(perm)
        maps = outputs[0][:, ::-1]
        out = [np.concatenate([maps[..., perm], maps[..., k:]], -1)]
        if len(outputs) >= 2:       # location refinement: swap keypoints, negate x offsets
            off = outputs[1][:, ::-1]
            pairs = off[..., :2 * k].reshape(*off.shape[:2], k, 2)[..., perm, :] * np.float32([-1, 1])
            out.append(np.concatenate([pairs.reshape(*off.shape[:2], 2 * k), off[..., 2 * k:]], -1))
        return out + list(outputs[2:])

    def average(self, outputs_list: list[list[np.ndarray]]) -> list[np.ndarray]:
        return average_maps(outputs_list)

    # ------------------------------------------------------------------ encode (targets)
    def encode(self, keypoints: np.ndarray, input_size: tuple[int, int]) -> list[np.ndarray]:
        """Reference (numpy) targets for one person's keypoints (K, 3: x, y, visible>0) in input
        pixels: [heatmaps (H, W, K) Gaussians, offsets (H, W, 2K) (keypoint - cell centre) /
        locref_stdev within locref_radius pixels of the keypoint, 0 elsewhere]. Needs `stride`."""
        if not self.stride:
            raise ValueError("encode needs the codec's stride")
        w_map, h_map = -(-input_size[0] // self.stride), -(-input_size[1] // self.stride)
        k = self.layout.num_keypoints
        gx = cells_to_pixels(np.arange(w_map), self.stride)[None, :]
        gy = cells_to_pixels(np.arange(h_map), self.stride)[:, None]
        heat = np.zeros((h_map, w_map, k), np.float32)
        offsets = np.zeros((h_map, w_map, 2 * k), np.float32)
        for j, (x, y, v) in enumerate(np.asarray(keypoints, np.float32).reshape(k, 3)):
            if v <= 0:
                continue
            dx, dy = x - gx + 0 * gy, y - gy + 0 * gx
            d2 = dx * dx + dy * dy
            heat[..., j] = np.exp(-d2 / (2 * self.sigma ** 2))
            near = d2 <= self.locref_radius ** 2
            offsets[..., 2 * j] = np.where(near, dx / self.locref_stdev, 0)
            offsets[..., 2 * j + 1] = np.where(near, dy / self.locref_stdev, 0)
        return [heat, offsets]
