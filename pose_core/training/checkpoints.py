"""Checkpoints that a crash can never leave half-written.

Each save goes to a hidden temporary directory next to the final one; only when every file is written
and fsynced is the directory renamed to `ckpt-<step>` (rename is atomic on POSIX within one file system).
So every `ckpt-*` directory is complete by construction, and `latest()` is just the highest step among
them. A kill mid-save leaves a `.tmp-*` directory, which the next run deletes. Each checkpoint holds the
model AND optimizer state (tf.train.Checkpoint: step counter, Adam moments), plus `model.weights.h5` so a
later stage can start "weights only" from it (pose_core.models.init_weights).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import tensorflow as tf

from pose_core.errors import CheckpointError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^ckpt-(\d+)$")
PREFIX = "state"           # tf.train.Checkpoint file prefix inside each checkpoint directory
WEIGHTS = "model.weights.h5"


def _fsync_tree(path: Path) -> None:
    for f in path.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicCheckpointer:
    def __init__(self, directory: str | os.PathLike, checkpoint: tf.train.Checkpoint, model=None,
                 keep: int = 3, is_chief: bool = True, scratch_dir: str | os.PathLike | None = None):
        """directory: where checkpoints live (every worker of a multi-worker run restores from it, so it
        must be on a shared filesystem there). scratch_dir: where a non-chief worker writes its
        throw-away copy of each save (default: a hidden folder beside `directory`)."""
        self.directory = Path(directory)
        self.scratch_dir = Path(scratch_dir) if scratch_dir else self.directory.parent / f".worker-{os.getpid()}"
        self.checkpoint = checkpoint
        self.model = model
        self.keep = keep
        self.is_chief = is_chief
        self.directory.mkdir(parents=True, exist_ok=True)
        if is_chief:
            for stale in self.directory.glob(".tmp-*"):   # left by a run killed mid-save
                log.info("removing incomplete checkpoint %s", stale.name)
                shutil.rmtree(stale, ignore_errors=True)

    def steps(self) -> list[int]:
        return sorted(int(m.group(1)) for p in self.directory.iterdir()
                      if (m := _NAME.match(p.name)) and (p / f"{PREFIX}.index").exists())

    def latest(self) -> Path | None:
        steps = self.steps()
        return self.directory / f"ckpt-{steps[-1]}" if steps else None

    def save(self, step: int) -> Path:
        final = self.directory / f"ckpt-{step}"
        # Non-chief workers of a multi-worker run must take part in the save (collectives) but write
        # into a private directory that is thrown away.
        base = self.directory if self.is_chief else self.scratch_dir
        tmp = base / f".tmp-ckpt-{step}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.checkpoint.write(str(tmp / PREFIX))
        if self.model is not None:
            self.model.save_weights(str(tmp / WEIGHTS))
        if not self.is_chief:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)
            return final
        _fsync_tree(tmp)
        if final.exists():           # same step saved twice (e.g. final save right after a periodic one)
            shutil.rmtree(final)
        os.rename(tmp, final)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)               # make the rename itself durable
        finally:
            os.close(fd)
        for old in self.steps()[:-self.keep]:
            shutil.rmtree(self.directory / f"ckpt-{old}", ignore_errors=True)
        return final

    def restore(self, path: str | os.PathLike | None = None) -> Path | None:
        """Restore `path` (a ckpt-N directory) or the latest one; returns what was restored or None."""
        path = Path(path) if path else self.latest()
        if path is None:
            return None
        try:
            status = self.checkpoint.read(str(path / PREFIX))
            status.assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError) as exc:
            raise CheckpointError(f"{path}: does not match this model/optimizer "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
        return path
