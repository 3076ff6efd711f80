"""Which models can run a flip test: those whose codec can mirror its outputs back (Codec.flip_back
overridden). Asked of the codec class, so a codec that learns to flip makes its models eligible with no list
to update here."""
from __future__ import annotations

from pose_core.codecs import codec_class
from pose_core.codecs.base import Codec


def codec_can_flip(codec: Codec | type) -> bool:
    cls = codec if isinstance(codec, type) else type(codec)
    return cls.flip_back is not Codec.flip_back


def flip_capable_models() -> list[str]:
    from pose_core import zoo
    names = []
    for name, spec in zoo.list_models().items():
        cls = codec_class(spec.codec.get("name", ""))
        if getattr(spec, "task", "pose") == "pose" and cls is not None and codec_can_flip(cls):
            names.append(name)
    return sorted(names)


def check_flip_test(codec: Codec | type | None, model: str) -> None:
    """ValueError (one line naming the models that can) when this model's codec (object or class) cannot
    flip. Called with the class before a model is loaded, so the user waits for nothing."""
    cls = codec if isinstance(codec, type) or codec is None else type(codec)
    if cls is None or not codec_can_flip(cls):
        raise ValueError(f"{model} cannot run a flip test (its {getattr(cls, '__name__', 'codec')} cannot mirror "
                         f"its outputs); models that can: {', '.join(flip_capable_models())}")
