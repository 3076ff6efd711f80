"""Model zoo: named entries (pose_core/zoo/*.yaml) and model files resolved under a models directory.

An entry says what a model is (layout, codec, input size, preprocessing) and where its files come from
(path relative to the models directory, upstream URL, sha256, licence). Exported and imported models carry
the same schema in a `model.yaml` beside their files, with paths relative to that yaml. This module owns
that schema both ways: ModelSpec.from_dict reads it, ModelSpec.to_dict writes it and write_spec_file puts
it on disk; every writer of a model.yaml goes through them.
"""
from __future__ import annotations

import copy
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

    def to_dict(self) -> dict:
        """The entry's `files:` item that from_dict reads back as this file (empty fields left out)."""
        d = {"path": self.path}
        for key in ("url", "sha256"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        for key in ("inputs", "outputs"):
            if getattr(self, key):
                d[key] = list(getattr(self, key))
        if self.extra:
            d["extra_files"] = [e.to_dict() for e in self.extra]
        return d


@dataclass(frozen=True)
class ModelSpec:
    name: str
    layout: str                               # keypoint layout; "" for person detectors
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
    task: str = "pose"                        # pose | detector (a person detector for top-down pipelines)

    @classmethod
    def from_dict(cls, name: str, d: dict, base_dir: Path | None = None) -> "ModelSpec":
        try:
            files = {kind: ModelFile.from_dict(f) for kind, f in d["files"].items()}
            known = {"layout", "codec", "input_size", "preprocess", "files", "default_runtime",
                     "fixed_input_size", "description", "licence", "source", "name", "task"}
            task = d.get("task", "pose")
            if task not in ("pose", "detector"):
                raise ValueError(f"task must be pose or detector, not {task!r}")
            return cls(name=d.get("name", name), layout=d["layout"] if task == "pose" else "",
                       codec=dict(d["codec"]), task=task,
                       input_size=tuple(int(v) for v in d["input_size"]),
                       preprocess=dict(d.get("preprocess", {})), files=files,
                       default_runtime=d.get("default_runtime", next(iter(files))),
                       fixed_input_size=bool(d.get("fixed_input_size", False)),
                       description=d.get("description", ""), licence=d.get("licence", ""),
                       source=d.get("source", ""), base_dir=base_dir,
                       extra={k: v for k, v in d.items() if k not in known})
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model entry {name!r} is malformed: {exc!r}") from None

    def to_dict(self) -> dict:
        """The entry from_dict reads back as this spec (base_dir aside: that is where the yaml lies).
        Keys in the order a reader expects them; empty optional strings and the default task left out."""
        d = {"name": self.name}
        if self.task != "pose":
            d["task"] = self.task
        if self.description:
            d["description"] = self.description
        if self.task == "pose":
            d["layout"] = self.layout
        d.update({"codec": copy.deepcopy(self.codec), "input_size": [int(v) for v in self.input_size],
                  "fixed_input_size": bool(self.fixed_input_size), "preprocess": copy.deepcopy(self.preprocess),
                  "default_runtime": self.default_runtime,
                  "files": {kind: f.to_dict() for kind, f in self.files.items()}})
        for key in ("licence", "source"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        d.update(copy.deepcopy(self.extra))
        return d

    def file_for(self, runtime: str | None = None) -> tuple[str, ModelFile]:
        kind = runtime or self.default_runtime
        if kind not in self.files:
            raise ModelError(f"model {self.name!r} has no {kind!r} file; available runtimes: "
                             f"{', '.join(self.files)}")
        return kind, self.files[kind]

    def local_path(self, f: ModelFile, models_dir: Path | None = None) -> Path:
        base = self.base_dir if self.base_dir is not None else (models_dir or default_models_dir())
        return Path(base) / f.path


@dataclass(frozen=True)
class PipelineSpec:
    """A top-down pipeline: a person detector, then a single-pose model on each person's crop.
    Named in the zoo (pose_core/zoo/topdown.yaml) or ad hoc as `topdown:DETECTOR+POSE_MODEL`."""
    name: str
    detector: str                             # zoo name of a detector entry
    pose: str                                 # zoo name or exported model folder of a single-pose model
    options: dict = field(default_factory=dict)   # TopDownEstimator options (margin, detect_every, ...)
    pose_options: dict = field(default_factory=dict)   # codec overrides for the pose model
    description: str = ""
    filters: dict = field(default_factory=dict)   # stated min_person_score / min_keypoint_score (FILTER_KEYS)


AD_HOC_PIPELINE = "topdown:"


def _load_entries() -> tuple[dict[str, ModelSpec], dict[str, PipelineSpec]]:
    entries: dict[str, ModelSpec] = {}
    pipelines: dict[str, PipelineSpec] = {}
    for path in sorted(ZOO_DIR.glob("*.yaml")):
        for name, d in (yaml.safe_load(path.read_text()) or {}).items():
            if "pipeline" in d:
                pipelines[name] = PipelineSpec(name=name, detector=d["detector"], pose=d["pose"],
                                               options=dict(d.get("options", {})),
                                               pose_options=dict(d.get("pose_options", {})),
                                               description=d.get("description", ""),
                                               filters=_filters(name, d))
            else:
                entries[name] = ModelSpec.from_dict(name, d)
    return entries, pipelines


# The result filter's settings (pose_core.people.filter_people): a codec family's values (Codec.result_filter);
# an entry states them only where one model needs other values. docs/ros.md, "Score thresholds".
FILTER_KEYS = ("min_person_score", "min_keypoint_score")


# Top-down pipelines' own person filter, on their person score (box score x mean confident keypoint score),
# zoo and ad hoc pipelines alike; their keypoint filter is their pose model's.
TOPDOWN_FILTER = {"min_person_score": 0.1}


def _filters(name: str, d: dict) -> dict[str, float]:
    out = {}
    for key in FILTER_KEYS:
        if key in d:
            value = d[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ModelError(f"model entry {name!r}: {key} must be a number in [0, 1], not {value!r}")
            out[key] = float(value)
    return out


def spec_filter(spec: "ModelSpec") -> dict[str, float]:
    """A pose model's own filter values: its codec family's (Codec.result_filter), updated by what its entry
    states. Imported and exported models thus get their family's values too."""
    from pose_core.codecs import codec_class

    cls = codec_class(spec.codec.get("name", ""))
    return {**(cls.result_filter if cls is not None else {}), **_filters(spec.name, spec.extra)}


def stated_filter(name: str) -> dict[str, float]:
    """A model's own filter values (a pose model: spec_filter; a pipeline: TOPDOWN_FILTER updated by what its
    entry states, with min_keypoint_score from its pose model when the pipeline states none). Keys not given
    are absent: the caller's defaults apply (0 = everything decoded in the library, pose_core.stream.result_filter
    for streams: the node and `pose video`)."""
    pipeline = get_pipeline(name)
    if pipeline is None:
        return spec_filter(get_spec(name))
    out = {**TOPDOWN_FILTER, **pipeline.filters}
    pose = stated_filter(pipeline.pose)
    if "min_keypoint_score" in pose:              # a keypoint score means the same inside a crop
        out.setdefault("min_keypoint_score", pose["min_keypoint_score"])
    return out


_ENTRIES: dict[str, ModelSpec] | None = None
_PIPELINES: dict[str, PipelineSpec] | None = None


def list_models() -> dict[str, ModelSpec]:
    """Every model file entry: pose models and person detectors."""
    global _ENTRIES, _PIPELINES
    if _ENTRIES is None:
        _ENTRIES, _PIPELINES = _load_entries()
    return dict(_ENTRIES)


def list_pipelines() -> dict[str, PipelineSpec]:
    list_models()
    return dict(_PIPELINES)


def known_names() -> list[str]:
    """Every name a user can give as a model: pose models and pipelines (not bare detectors)."""
    return sorted([n for n, s in list_models().items() if s.task == "pose"] + list(list_pipelines()))


def get_pipeline(name: str) -> PipelineSpec | None:
    """The pipeline a name stands for (a zoo pipeline or `topdown:DETECTOR+POSE`), else None."""
    pipelines = list_pipelines()
    if name in pipelines:
        return pipelines[name]
    if not name.startswith(AD_HOC_PIPELINE):
        return None
    detector, sep, pose = name[len(AD_HOC_PIPELINE):].partition("+")
    if not sep or not detector or not pose:
        raise UnknownModelError(f"pipeline {name!r} must read topdown:DETECTOR+POSE_MODEL, e.g. "
                                f"topdown:yolox/nano+movenet/thunder")
    return PipelineSpec(name=name, detector=detector, pose=pose)


def get_spec(name: str, task: str = "pose") -> ModelSpec:
    """A zoo name, or a path to an exported model (its folder or model.yaml), of the given task."""
    entries = list_models()
    if name in entries:
        spec = entries[name]
        if spec.task != task:
            known = sorted(n for n, s in entries.items() if s.task == task)
            hint = (" (a person detector: use it in a pipeline such as topdown:%s+movenet/thunder)" % name
                    if spec.task == "detector" else "")
            raise UnknownModelError(f"{name!r} is not a {task} model{hint}; known {task} models: "
                                    f"{', '.join(known)}")
        return spec
    path = Path(name).expanduser()
    if path.is_dir():
        path = path / "model.yaml"
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return load_spec_file(path)
    known = known_names() if task == "pose" else sorted(n for n, s in entries.items() if s.task == task)
    raise UnknownModelError(f"unknown {'model' if task == 'pose' else task} {name!r}; known: "
                            f"{', '.join(known)} (or give a folder with a model.yaml)")


def load_spec_file(path: str | Path) -> ModelSpec:
    path = Path(path)
    try:
        d = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"cannot read model description {path}: {exc}") from None
    if not isinstance(d, dict):
        raise ModelError(f"model description {path} is not a mapping")
    return ModelSpec.from_dict(d.get("name", path.parent.name), d, base_dir=path.parent)


def write_spec_file(spec: ModelSpec, path: str | Path) -> Path:
    """Write `spec` as a model description at `path` (its file paths as they are: relative to the yaml's
    folder). Written under a hidden temporary name beside it and renamed, so a reader never sees half a file
    and a failed write leaves any earlier file as it was."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


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
