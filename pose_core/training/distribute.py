"""Which tf.distribute strategy a run uses.

  auto          TF_CONFIG set -> MultiWorkerMirroredStrategy (several machines); more than one GPU ->
                MirroredStrategy; otherwise the default strategy (one device, CPU here)
  default | mirrored | multi_worker   force one

MultiWorkerMirroredStrategy must be created before any other TensorFlow op runs, so the trainer calls
make_strategy() first thing. Only the chief (task 0 of "worker", or "chief") writes checkpoints, logs
and exports; the others take part in saves (collectives) but write to throw-away directories.
"""
from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

log = logging.getLogger(__name__)


def make_strategy(kind: str = "auto") -> tf.distribute.Strategy:
    gpus = tf.config.list_physical_devices("GPU")
    if kind == "auto":
        if os.environ.get("TF_CONFIG"):
            kind = "multi_worker"
        elif len(gpus) > 1:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif kind == "mirrored":
        if len(gpus) < 2:
            log.info("mirrored strategy with %d GPU(s): replicas on %s", len(gpus), "GPU" if gpus else "CPU")
        strategy = tf.distribute.MirroredStrategy()
    else:
        if not gpus:
            log.info("no GPU found: training on CPU")
        strategy = tf.distribute.get_strategy()
    log.info("distribution: %s, %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync)
    return strategy


def is_chief() -> bool:
    """True unless TF_CONFIG names this process as a non-chief task."""
    cfg = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = cfg.get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = "chief" in cfg.get("cluster", {})
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and not has_chief
