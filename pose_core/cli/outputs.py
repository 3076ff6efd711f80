"""Output paths checked before any work: a run that ends in a traceback at the last step, after every image
was processed, loses all its results. Each check raises UsageError (one line, exit 2)."""
from __future__ import annotations

import os
from pathlib import Path

from pose_core.cli.parser import UsageError


def check_output_file(path: str | os.PathLike | None, flag: str, example: str = "results.json") -> None:
    """path will be written as a file (its folders are created). example: a file name for the hint."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{flag} {p} is a folder; give a file name, e.g. {p / example}")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"{flag} {p}: the file is not writable")
    _check_parent(p.parent, flag, p)


def check_output_dir(path: str | os.PathLike | None, flag: str) -> None:
    """path will be a folder to write into (created if missing)."""
    if path is None:
        return
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag} {p} exists and is not a folder")
    if p.is_dir():
        if not os.access(p, os.W_OK):
            raise UsageError(f"{flag} {p}: the folder is not writable")
        return
    _check_parent(p.parent, flag, p)


def _check_parent(parent: Path, flag: str, target: Path) -> None:
    """The nearest existing ancestor must be a writable folder (the rest is created)."""
    ancestor = parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{flag} {target}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise UsageError(f"{flag} {target}: cannot create it in {ancestor} (not writable)")
