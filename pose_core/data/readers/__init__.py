"""Dataset readers: each turns one annotation format into an AnnotatedDataset of Samples
(pose_core.data.sample documents the record). read_dataset(format, path, ...) picks the reader by name."""
from __future__ import annotations

from pose_core.data.readers.aic import read_aic
from pose_core.data.readers.coco import read_coco, read_crowdpose
from pose_core.data.readers.mpii import read_deepercut_mat
from pose_core.data.readers.own import read_own
from pose_core.data.sample import AnnotatedDataset

READERS = {
    "coco": read_coco,
    "crowdpose": read_crowdpose,
    "aic": read_aic,
    "mpii": read_deepercut_mat,
    "deepercut": read_deepercut_mat,
    "own": read_own,
}


def read_dataset(fmt: str, path, images_dir=None, **options) -> AnnotatedDataset:
    """fmt: coco | crowdpose | aic | mpii (= deepercut) | own."""
    if fmt not in READERS:
        raise KeyError(f"unknown dataset format {fmt!r}; known: {', '.join(READERS)}")
    return READERS[fmt](path, images_dir, **options)


__all__ = ["READERS", "read_dataset", "read_coco", "read_crowdpose", "read_aic", "read_deepercut_mat",
           "read_own"]
