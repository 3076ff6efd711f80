"""Device choice for TensorFlow runtimes: honour `gpu:N` where the GPU exists, else fall back to the CPU
with one clear log line saying what actually runs."""
from __future__ import annotations

import logging

log = logging.getLogger("pose_core.device")


def parse_device(device: str | None) -> tuple[str, int]:
    """'cpu' | 'gpu' | 'gpu:N' | 'cuda:N' | 'auto' -> (kind, index)."""
    text = (device or "cpu").strip().lower()
    kind, _, index = text.partition(":")
    if kind == "cuda":
        kind = "gpu"
    if kind not in ("cpu", "gpu", "auto") or (index and not index.isdigit()):
        raise ValueError(f"device must be cpu, gpu, gpu:N or auto, not {device!r}")
    return kind, int(index or 0)


def tf_device(device: str | None) -> str:
    """The TensorFlow device string to run on, after checking the requested GPU exists."""
    import tensorflow as tf

    kind, index = parse_device(device)
    if kind == "cpu":
        return "/CPU:0"
    gpus = tf.config.list_physical_devices("GPU")
    if index < len(gpus):
        log.info("running on GPU %d (%s)", index, gpus[index].name)
        return f"/GPU:{index}"
    if kind == "gpu":
        log.warning("device %s requested but %d GPU(s) visible to TensorFlow; falling back to CPU",
                    device, len(gpus))
    return "/CPU:0"


def describe_tf_device(tf_dev: str) -> str:
    return "gpu:" + tf_dev.rsplit(":", 1)[1] if "GPU" in tf_dev else "cpu"
