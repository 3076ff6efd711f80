"""Multi-scale factors and the network-input limit that goes with them.

A scale multiplies the network input side; a typo (`--scales 1,0,75` for 0.75) or a NaN must not turn into
0 people or a 10 GB tensor. Factors must be finite and in (0, MAX_SCALE]; and whatever the factor and the
input size, the network input stays under MAX_NETWORK_PIXELS (the scaled tensor alone is 12 bytes/pixel,
the network's activations many times more).
"""
from __future__ import annotations

import math

from pose_core.errors import ImageError

MAX_SCALE = 4.0
MAX_NETWORK_PIXELS = 4096 * 4096


def check_scales(scales) -> tuple[float, ...]:
    """-> the factors as floats; ValueError with one line when any is not finite, <= 0 or > MAX_SCALE."""
    out = tuple(float(s) for s in scales)
    if not out:
        raise ValueError("scales: give at least one factor, e.g. 1.0")
    bad = [s for s in out if not math.isfinite(s) or not 0.0 < s <= MAX_SCALE]
    if bad:
        raise ValueError(f"scale{'s' if len(bad) > 1 else ''} {', '.join(f'{s:g}' for s in bad)} out of range: "
                         f"each factor must be a finite number in (0, {MAX_SCALE:g}], e.g. 1,0.75")
    return out


def parse_scales(text: str) -> tuple[float, ...]:
    """'1,0.75' -> (1.0, 0.75); ValueError with one line for anything else."""
    try:
        values = [float(v) for v in str(text).split(",")]
    except ValueError:
        raise ValueError(f"scales must be numbers separated by commas (e.g. 1,0.75), not {text!r}") from None
    return check_scales(values)


def check_network_size(width: int, height: int, scale: float = 1.0) -> None:
    """ImageError when a network input of width x height (at this scale) is over MAX_NETWORK_PIXELS."""
    if width * height > MAX_NETWORK_PIXELS:
        raise ImageError(f"network input {width}x{height} at scale {scale:g} is over the "
                         f"{MAX_NETWORK_PIXELS / 1e6:.1f} MP limit; use smaller scales or --input-size")
