"""Model zoo: named entries (pose_core/zoo/*.yaml) and model files resolved under a models directory.

An entry says what a model is (layout, codec, input size, preprocessing) and where its files come from
(path relative to the models directory, upstream URL, sha256, licence). Exported and imported models carry
the same schema in a `model.yaml` beside their files, with paths relative to that yaml.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pose_core.errors import ModelError, ModelFileMissingError, UnknownModelError

ZOO_DIR = Path(__file__).resolve().parent
ENV_MODELS_DIR = "POSE_MODELS_DIR"


def default_models_dir() -> Path:
    """POSE_MODELS_DIR, else the user cache (XDG_CACHE_HOME or ~/.cache)/pose_ros/models."""
    if os.environ.get(ENV_MODELS_DIR):
        return Path(os.environ[ENV_MODELS_DIR]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "pose_ros" / "models"


@dataclass(frozen=True)
class ModelFile:
    path: str                  # relative to the models dir (zoo) or to the model.yaml (exported)
    url: str = ""
    sha256: str = ""
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    # Files the main file needs beside it (TF.js weight shards, SavedModel variables): same fields.
    extra: tuple["ModelFile", ...] = ()

    @classmethod
    def from_dict(cls, d: dict) -> "ModelFile":
        return cls(path=d["path"], url=d.get("url", ""), sha256=d.get("sha256", ""),
                   inputs=tuple(d.get("inputs", ())), outputs=tuple(d.get("outputs", ())),
                   extra=tuple(cls.from_dict(e) for e in d.get("extra_files", ())))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    layout: str
    codec: dict
    input_size: tuple[int, int]               # (w, h) default network input
    preprocess: dict
    files: dict[str, ModelFile]               # runtime kind -> file
    default_runtime: str
    fixed_input_size: bool = False
    description: str = ""
    licence: str = ""
    source: str = ""
    # Where relative file paths resolve: None = the models directory; else the model.yaml's folder.
    base_dir: Path | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, name: str, d: dict, base_dir: Path | None = None) -> "ModelSpec":
        try:
            files = {kind: ModelFile.from_dict(f) for kind, f in d["files"].items()}
            known = {"layout", "codec", "input_size", "preprocess", "files", "default_runtime",
                     "fixed_input_size", "description", "licence", "source", "name"}
            return cls(name=d.get("name", name), layout=d["layout"], codec=dict(d["codec"]),
                       input_size=tuple(int(v) for v in d["input_size"]),
                       preprocess=dict(d.get("preprocess", {})), files=files,
                       default_runtime=d.get("default_runtime", next(iter(files))),
                       fixed_input_size=bool(d.get("fixed_input_size", False)),
                       description=d.get("description", ""), licence=d.get("licence", ""),
                       source=d.get("source", ""), base_dir=base_dir,
                       extra={k: v for k, v in d.items() if k not in known})
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model entry {name!r} is malformed: {exc!r}") from None

    def file_for(self, runtime: str | None = None) -> tuple[str, ModelFile]:
        kind = runtime or self.default_runtime
        if kind not in self.files:
            raise ModelError(f"model {self.name!r} has no {kind!r} file; available runtimes: "
                             f"{', '.join(self.files)}")
        return kind, self.files[kind]

    def local_path(self, f: ModelFile, models_dir: Path | None = None) -> Path:
        base = self.base_dir if self.base_dir is not None else (models_dir or default_models_dir())
        return Path(base) / f.path


def _load_entries() -> dict[str, ModelSpec]:
    entries: dict[str, ModelSpec] = {}
    for path in sorted(ZOO_DIR.glob("*.yaml")):
        for name, d in (yaml.safe_load(path.read_text()) or {}).items():
            entries[name] = ModelSpec.from_dict(name, d)
    return entries


_ENTRIES: dict[str, ModelSpec] | None = None


def list_models() -> dict[str, ModelSpec]:
    global _ENTRIES
    if _ENTRIES is None:
        _ENTRIES = _load_entries()
    return dict(_ENTRIES)


def get_spec(name: str) -> ModelSpec:
    """A zoo name, or a path to an exported model (its folder or model.yaml)."""
    entries = list_models()
    if name in entries:
        return entries[name]
    path = Path(name).expanduser()
    if path.is_dir():
        path = path / "model.yaml"
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return load_spec_file(path)
    raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(sorted(entries))} "
                            f"(or give a folder with a model.yaml)")


def load_spec_file(path: str | Path) -> ModelSpec:
    path = Path(path)
    try:
        d = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"cannot read model description {path}: {exc}") from None
    if not isinstance(d, dict):
        raise ModelError(f"model description {path} is not a mapping")
    return ModelSpec.from_dict(d.get("name", path.parent.name), d, base_dir=path.parent)


def resolve(spec: ModelSpec, runtime: str | None = None, models_dir: Path | None = None,
            download: bool = False, verify: bool = False) -> tuple[str, Path]:
    """Local path of the spec's file for `runtime` (and its extra files). Missing: download if allowed,
    else ModelFileMissingError naming the file, URL and directory."""
    from pose_core import download as dl

    kind, f = spec.file_for(runtime)
    for item in (f, *f.extra):
        local = spec.local_path(item, models_dir)
        if not local.exists():
            if download and item.url:
                dl.fetch(item.url, local, item.sha256)
            else:
                where = local.parent
                raise ModelFileMissingError(
                    f"model file {item.path} for {spec.name!r} is missing from {where}"
                    + (f"; fetch it with `pose models fetch {spec.name}` or download {item.url}"
                       if item.url else ""))
        elif verify and item.sha256:
            dl.verify(local, item.sha256)
    return kind, spec.local_path(f, models_dir)
