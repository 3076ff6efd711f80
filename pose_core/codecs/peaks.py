"""Heatmap peak finding shared by the decoders: local-maximum NMS and sub-pixel refinement.

Everything works on (H, W, C) float maps in MAP cells and is vectorised over all channels and peaks at
once; decoders convert cells to network-input pixels with `cells_to_pixels`.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

# Values are floored before the log-parabola fit: a Gaussian's log is exactly a parabola, but maps reach
# zero (or go slightly negative) away from a peak, and log(0) would throw the fit away.
_LOG_FLOOR = 1e-4


@lru_cache(maxsize=8)
def _window_offsets(window: int):
    """Row and column offsets of a window x window neighbourhood, shaped to broadcast to (win, win, n)."""
    d = np.arange(-(window // 2), window // 2 + 1)
    return d[:, None, None], d[None, :, None]


def find_peaks(maps: np.ndarray, threshold: float, window: int = 3, channels: int | None = None):
    """Local maxima of every channel above `threshold`.

    maps: (H, W, C) float32; channels: search only the first `channels` (the heatmaps of a combined
    heatmaps + PAFs output, without copying them out). Returns (channel, y, x, value) arrays sorted by
    channel, then by descending value.

    Only the few cells above the threshold are examined: each one's window x window neighbourhood is
    fetched in one gather from the flat maps (border cells clamped, which leaves the maximum unchanged:
    a clamped cell is another cell of the same window), and it is a peak if no neighbour is larger.
    A plateau (a peak exactly between two cells) would give two candidates for one keypoint: only the
    cell whose left and upper neighbours are strictly lower is kept.
    """
    maps = np.ascontiguousarray(maps, np.float32)
    c = maps.shape[-1]
    k = c if channels is None else int(channels)
    heat = maps if k == c else maps[..., :k]
    # 1-D nonzero: on the 2-D or 3-D mask numpy's nonzero costs ~20x more.
    cand = (heat > threshold).reshape(-1).nonzero()[0]
    if len(cand) > _CANDIDATE_CHUNK:     # maps mostly above the threshold: bounded memory per gather
        parts = [_local_maxima(maps, k, window, cand[i:i + _CANDIDATE_CHUNK])
                 for i in range(0, len(cand), _CANDIDATE_CHUNK)]
        chans, ys, xs, values = (np.concatenate(p) for p in zip(*parts))
    else:
        chans, ys, xs, values = _local_maxima(maps, k, window, cand)
    order = np.lexsort((-values, chans))
    return chans[order], ys[order], xs[order], values[order]


_CANDIDATE_CHUNK = 1 << 18


def _local_maxima(maps, k, window, cand):
    """(channel, y, x, value) of the candidates (flat indices into maps[..., :k]) that are peaks."""
    h, w, c = maps.shape
    ys, rest = np.divmod(cand, w * k)
    xs, chans = np.divmod(rest, k)
    dy, dx = _window_offsets(window)
    rows = np.minimum(np.maximum(ys + dy, 0), h - 1) * w
    cols = np.minimum(np.maximum(xs + dx, 0), w - 1)
    near = maps.reshape(-1)[(rows + cols) * c + chans]                # (window, window, candidates)
    r = window // 2
    values = near[r, r]
    keep = ((values >= np.maximum.reduce(near.reshape(window * window, -1)))
            & ((xs == 0) | (near[r, r - 1] < values)) & ((ys == 0) | (near[r - 1, r] < values))).nonzero()[0]
    return chans[keep], ys[keep], xs[keep], values[keep]

def refine_peaks(maps: np.ndarray, chans: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                 upsample: int = 0):
    """Sub-pixel peak positions and values (x, y, value), x and y in map cells, of the integer
    maxima (chans, ys, xs); the value is the interpolated map's maximum (>= the cell's value).

    upsample=0: one Newton step on the log of the 3x3 neighbourhood (a second-order Taylor expansion,
    cross term included). Exact for Gaussian peaks; the step is limited to half a cell because the
    true maximum lies within half a cell of the arg-max cell (otherwise a neighbour would be larger).
    upsample=u: the maximum of the bicubically upsampled map on a 1/u-cell grid within half a cell,
    i.e. what NMS on cv2.resize(maps, x u, INTER_CUBIC) finds, computed only around each peak."""
    if len(chans) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32)
    if upsample:
        return _refine_upsampled(maps, chans, ys, xs, int(upsample))
    h, w, c = maps.shape
    # The 3x3 neighbourhoods of all peaks in one gather (border cells clamped), as in find_peaks:
    # L[i, j] = log value at row (y-1, y, y+1)[i], column (x-1, x, x+1)[j].
    dy, dx = _window_offsets(3)
    rows = np.minimum(np.maximum(ys + dy, 0), h - 1) * w
    cols = np.minimum(np.maximum(xs + dx, 0), w - 1)
    cells = np.ascontiguousarray(maps).reshape(-1)[(rows + cols) * c + chans]
    L = np.log(np.maximum(cells, _LOG_FLOOR))
    c0, left, right, up, down = L[1, 1], L[1, 0], L[1, 2], L[0, 1], L[2, 1]
    gx, gy = 0.5 * (right - left), 0.5 * (down - up)
    hxx, hyy = right - 2 * c0 + left, down - 2 * c0 + up
    hxy = 0.25 * (L[2, 2] - L[2, 0] - L[0, 2] + L[0, 0])
    if np.add.reduce((xs == 0) | (xs == w - 1) | (ys == 0) | (ys == h - 1)):
        # On the map's edge one neighbour is missing: borrow the other axis' curvature (peaks are
        # near-isotropic) and take the one-sided slope, instead of fitting to a replicated value.
        edge_x = ((xs == 0) | (xs == w - 1)) & (ys > 0) & (ys < h - 1) & (w > 1)
        edge_y = ((ys == 0) | (ys == h - 1)) & (xs > 0) & (xs < w - 1) & (h > 1)
        inner_x = np.where(xs == 0, right, left)
        inner_y = np.where(ys == 0, down, up)
        side_x = np.where(xs == 0, 1.0, -1.0)
        side_y = np.where(ys == 0, 1.0, -1.0)
        gx = np.where(edge_x, side_x * (inner_x - c0 - 0.5 * hyy), gx)
        hxx = np.where(edge_x, hyy, hxx)
        gy = np.where(edge_y, side_y * (inner_y - c0 - 0.5 * hxx), gy)
        hyy = np.where(edge_y, hxx, hyy)
        hxy = np.where(edge_x | edge_y, 0.0, hxy)
    det = hxx * hyy - hxy * hxy
    # Newton step where the Hessian is negative definite (nearly always); otherwise a per-axis parabola
    # (or nothing).
    full = (hxx < 0) & (det > 1e-12)
    if np.add.reduce(full) == len(full):
        dx = -(hyy * gx - hxy * gy) / det
        dy = -(hxx * gy - hxy * gx) / det
    else:
        safe_det = np.where(full, det, 1.0)
        dx = np.where(full, -(hyy * gx - hxy * gy) / safe_det,
                      np.where(hxx < 0, -gx / np.where(hxx < 0, hxx, -1.0), 0.0))
        dy = np.where(full, -(hxx * gy - hxy * gx) / safe_det,
                      np.where(hyy < 0, -gy / np.where(hyy < 0, hyy, -1.0), 0.0))
    dx, dy = np.minimum(np.maximum(dx, -0.5), 0.5), np.minimum(np.maximum(dy, -0.5), 0.5)
    # The fitted peak's height: the cell value where the log map was floored (nothing to fit).
    log_peak = c0 + gx * dx + gy * dy + 0.5 * (hxx * dx * dx + 2 * hxy * dx * dy + hyy * dy * dy)
    cell = cells[1, 1]
    value = np.where(cell > _LOG_FLOOR, np.maximum(np.exp(log_peak), cell), cell)
    # In float32 (cells are integers below 2**24: one rounding, as float64 then float32 would give); the
    # casts only act when an edge peak made the step float64.
    return ((xs.astype(np.float32) + dx).astype(np.float32, copy=False),
            (ys.astype(np.float32) + dy).astype(np.float32, copy=False), value.astype(np.float32, copy=False))


def _cubic_weights(offsets: np.ndarray) -> np.ndarray:
    """(len(offsets), 5) bicubic weights (OpenCV's a = -0.75) of taps at -2..2 for each offset."""
    a = -0.75
    t = np.abs(offsets[:, None] - np.arange(-2, 3)[None, :])
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


@lru_cache(maxsize=8)
def _upsample_grid(upsample: int):
    offsets = np.arange(-(upsample // 2), upsample // 2 + 1) / upsample
    return offsets.astype(np.float32), _cubic_weights(offsets).astype(np.float32)


def _refine_upsampled(maps, chans, ys, xs, upsample):
    h, w, _ = maps.shape
    offsets, weights = _upsample_grid(upsample)
    taps = np.arange(-2, 3)
    yy = np.clip(ys[:, None] + taps, 0, h - 1)            # border replicated, like cv2.resize
    xx = np.clip(xs[:, None] + taps, 0, w - 1)
    patches = maps[yy[:, :, None], xx[:, None, :], chans[:, None, None]]    # (n, 5, 5)
    up = np.einsum("aj,nji,bi->nab", weights, patches, weights)           # (n, m, m)
    m = len(offsets)
    flat = up.reshape(len(chans), -1)
    best = flat.argmax(1)
    iy, ix = np.divmod(best, m)
    return ((xs + offsets[ix]).astype(np.float32), (ys + offsets[iy]).astype(np.float32),
            flat[np.arange(len(best)), best].astype(np.float32))


def cells_to_pixels(cells: np.ndarray, stride: float) -> np.ndarray:
    """Map-cell coordinates -> network-input pixel coordinates. Cell i covers input pixels
    [i*stride, (i+1)*stride), so its centre is pixel (i + 0.5) * stride - 0.5 (pixel centres at
    integers, the convention cv2.resize and the estimator use)."""
    return (np.asarray(cells, np.float32) + 0.5) * stride - 0.5


def pixels_to_cells(pixels: np.ndarray, stride: float) -> np.ndarray:
    return (np.asarray(pixels, np.float32) + 0.5) / stride - 0.5
