"""Model downloads: progress bar, sha256 check, atomic rename (a partial file never looks complete)."""
from __future__ import annotations

import logging
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from pose_core.errors import ChecksumError, ModelFileMissingError
from pose_core.hashing import sha256_of

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def verify(path: Path, sha256: str) -> None:
    actual = sha256_of(path)
    if sha256 and actual != sha256.lower():
        raise ChecksumError(f"{path}: sha256 {actual} does not match the expected {sha256}; "
                            f"delete it and fetch again")


def fetch(url: str, dest: Path, sha256: str = "", timeout: float = 30.0, progress: bool = True) -> Path:
    """Download url to dest. The data goes to a temp file in dest's folder, is checked, then renamed."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    total = int(resp.headers.get("Content-Length") or 0) or None
                    with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                              disable=not progress) as bar:
                        for block in iter(lambda: resp.read(_CHUNK), b""):
                            out.write(block)
                            bar.update(len(block))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise ModelFileMissingError(
                    f"cannot download {url} into {dest.parent}: {getattr(exc, 'reason', exc)}") from None
        actual = sha256_of(Path(tmp))
        if sha256 and actual != sha256.lower():
            raise ChecksumError(f"download of {url} has sha256 {actual}, expected {sha256}; "
                                f"nothing was written to {dest}")
        os.replace(tmp, dest)
        log.info("downloaded %s -> %s", url, dest)
        return dest
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
