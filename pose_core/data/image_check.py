"""Check a dataset's image files where they are listed, in Python, before tf.data reads them.

Inside the tf.data graph a missing or corrupt file fails the whole run with TensorFlow's error, which
does not name the file (and tf.data service workers cannot run Python to catch it). So every listed file
is checked first: missing -> skipped, named and counted; undecodable -> the same. The check decodes with
the very op the pipeline uses (tf.io.decode_image), so what passes here decodes there.
mode: "decode" (default; a few ms per photo, threaded), "exists" (only that the file is there: for
datasets too large to decode twice), or "off".
"""
from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

MODES = ("decode", "exists", "off")


def _problem(path: str, decode: bool) -> str | None:
    """None when the file is usable, else why not (one phrase)."""
    if not os.path.isfile(path):
        return "missing"
    if os.path.getsize(path) == 0:
        return "empty"
    if not decode:
        return None
    import tensorflow as tf
    try:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    except (tf.errors.OpError, ValueError) as exc:
        # TF prefixes "{{function_node ...}}" and appends "[Op:DecodeImage]": keep the decoder's words.
        text = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\]|\s*name:\s*$", "", getattr(exc, "message", str(exc)))
        return f"corrupt ({text.strip().splitlines()[0][:100] if text.strip() else type(exc).__name__})"
    if image.shape[0] < 2 or image.shape[1] < 2:
        return f"too small ({image.shape[1]}x{image.shape[0]})"
    return None


def check_image_files(samples: list, mode: str = "decode", threads: int = 4) -> tuple[list, dict]:
    """(usable samples, {"missing": [paths], "corrupt": [...], ...}); logs one line per bad file."""
    if mode not in MODES:
        raise ValueError(f"data.check_images: {mode!r} is not one of {', '.join(MODES)}")
    if mode == "off" or not samples:
        return list(samples), {}
    paths = [s.image_path for s in samples]
    with ThreadPoolExecutor(max(1, threads)) as pool:
        problems = list(pool.map(lambda p: _problem(p, mode == "decode"), paths))
    kept, skipped = [], {}
    for sample, problem in zip(samples, problems):
        if problem is None:
            kept.append(sample)
            continue
        kind = problem.split(" ", 1)[0]
        skipped.setdefault(kind, []).append(sample.image_path)
        log.warning("skipping image %s (image id %s): %s", sample.image_path, sample.image_id, problem)
    if skipped:
        log.warning("skipped %d of %d images: %s", sum(map(len, skipped.values())), len(samples),
                    ", ".join(f"{len(v)} {k}" for k, v in skipped.items()))
    return kept, skipped
