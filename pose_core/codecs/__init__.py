"""Codec factory: a zoo entry's `codec: {name: ..., ...}` -> a Codec object."""
from __future__ import annotations

import importlib

from pose_core.codecs.base import Codec
from pose_core.layouts import KeypointLayout

# name -> "module:Class"; each codec's constructor takes (layout, **options from the zoo entry).
CODECS = {
    "paf": "pose_core.codecs.paf:PafCodec",
    "heatmap": "pose_core.codecs.heatmap:HeatmapCodec",
    "movenet_multipose": "pose_core.codecs.movenet:MoveNetMultiPoseCodec",
    "movenet_singlepose": "pose_core.codecs.movenet:MoveNetSinglePoseCodec",
}


def codec_class(name: str) -> type | None:
    """The Codec class registered as `name`, None for an unknown name (asked before loading a model)."""
    if name not in CODECS:
        return None
    module, cls = CODECS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_codec(name: str, layout: KeypointLayout, **options) -> Codec:
    cls = codec_class(name)
    if cls is None:
        raise KeyError(f"unknown codec {name!r}; known: {', '.join(CODECS)}")
    return cls(layout, **options)
