"""Training recipes: YAML files (training/configs/*.yaml) naming the model, data, schedule and outputs.

A recipe may start with `_base_: other.yaml` (path relative to the recipe) and override any part of it;
mappings merge key by key (unless they contain `_replace_: true`), everything else replaces.
`--override a.b.c=VALUE` edits one field after loading (VALUE is parsed as YAML: numbers, lists, null).
`${VAR}` in strings expands environment variables, so recipes never hard-code dataset locations.
See docs/training.md for every field.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml

from pose_core.errors import PoseError


class RecipeError(PoseError):
    """A recipe field that is missing, unknown or out of range; the message names the field."""


# Defaults every recipe gets; a recipe only states what differs.
DEFAULTS: dict = {
    "name": None,                      # run name; defaults to the recipe file's stem
    "work_dir": "work_dirs/${name}",   # checkpoints, TensorBoard logs, exported model
    "seed": 0,
    # zero_init_outputs: start a fresh model from all-zero output maps (see trainer.zero_init_output_layers)
    # init_from: a model folder (pose import / pose export) whose weights the run starts from (init_from.py)
    "model": {"name": None, "params": {}, "init_weights": None, "init_checkpoint": None, "init_from": None,
              "zero_init_outputs": False},
    "data": {},                        # passed to pose_core.data.make_dataset (see docs/data.md)
    "training": {
        "batch_size": 8,               # GLOBAL batch (split over replicas)
        "steps": 1000,
        "optimizer": {"name": "adam"},
        "lr": {"schedule": "constant", "value": 1.0e-3},
        "loss": {"stage_weights": None, "locref_weight": 0.05, "locref_huber_delta": 1.0},
        "checkpoint_every": 1000,
        "keep_checkpoints": 3,
        "log_every": 50,
        "image_every": 500,
        "progress": True,
        "distribute": "auto",          # auto | default | mirrored | multi_worker
        "deterministic": False,        # tf.config.experimental.enable_op_determinism()
        # Fine-tuning: no gradient into layers whose name matches `layers` (a regex) for the first `steps`.
        "freeze": {"steps": 0, "layers": None},
        "freeze_batch_norm": False,    # BN layers in inference mode with fixed statistics (small batches)
    },
    # Periodic validation AP (pose eval's predict_dataset + pycocotools) on a COCO-format held-out set;
    # the best model is kept in work_dir/best (see pose_core/training/validation.py).
    "validation": {"annotations": None, "images": None, "every": 0, "at_start": True,
                   "keypoint_threshold": 0.0, "metric": "AP"},
    # bn_batches: training batches to re-estimate batch-norm statistics on before export (0 = keep the
    # moving averages); see pose_core/training/batchnorm.py.
    "export": {"at_end": True, "formats": ["keras"], "bn_batches": 20},
}


def _merge(base: dict, top: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and value.get("_replace_"):   # replace the base's mapping whole
            out[key] = copy.deepcopy({k: v for k, v in value.items() if k != "_replace_"})
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        raise RecipeError(f"{path}: _base_ cycle ({' -> '.join(p.name for p in seen)})")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping, got {type(data).__name__}")
    base = data.pop("_base_", None)
    if base:
        data = _merge(_read_yaml(path.parent / base, seen + (path,)), data)
    return data


def apply_override(recipe: dict, text: str) -> None:
    """'training.steps=200' -> recipe['training']['steps'] = 200 (value parsed as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"override {text!r}: expected key.path=value")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    if isinstance(value, dict):   # an override replaces a whole mapping anyway
        value.pop("_replace_", None)
    node = recipe
    parts = key.strip().split(".")
    for part in parts[:-1]:
        if not isinstance(node.setdefault(part, {}), dict):
            raise RecipeError(f"override {text!r}: {part!r} is not a mapping")
        node = node[part]
    node[parts[-1]] = value


def _expand(value, variables: dict):
    if isinstance(value, str):
        for k, v in variables.items():
            value = value.replace("${" + k + "}", str(v))
        return os.path.expandvars(value)
    if isinstance(value, dict):
        return {k: _expand(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, variables) for v in value]
    return value


def load_recipe(path: str | os.PathLike | dict, overrides: list[str] = ()) -> dict:
    """Read, merge with DEFAULTS, apply overrides, expand ${...}, validate. Returns a plain dict."""
    if isinstance(path, dict):
        recipe, stem = copy.deepcopy(path), "recipe"
    else:
        recipe, stem = _read_yaml(Path(path)), Path(path).stem
    recipe = _merge(DEFAULTS, recipe)
    for text in overrides:
        apply_override(recipe, text)
    recipe["name"] = recipe.get("name") or stem
    recipe = _expand(recipe, {"name": recipe["name"]})
    validate(recipe)
    return recipe


def validate(recipe: dict) -> None:
    unknown = set(recipe) - set(DEFAULTS) - {"description"}
    if unknown:
        raise RecipeError(f"unknown recipe section(s): {', '.join(sorted(unknown))}")
    if not recipe["model"].get("name") and not recipe["model"].get("init_from"):
        raise RecipeError("model.name: missing (an architecture name known to pose_core.models, "
                          "or model.init_from: a model folder)")
    t = recipe["training"]
    for key in ("batch_size", "steps", "checkpoint_every", "log_every", "keep_checkpoints"):
        if not isinstance(t.get(key), int) or t[key] < 1:
            raise RecipeError(f"training.{key}: expected a positive integer, got {t.get(key)!r}")
    freeze = t.get("freeze") or {}
    if not isinstance(freeze.get("steps", 0), int) or freeze.get("steps", 0) < 0:
        raise RecipeError(f"training.freeze.steps: expected a non-negative integer, got {freeze.get('steps')!r}")
    if freeze.get("steps") and not freeze.get("layers"):
        raise RecipeError("training.freeze.layers: missing (a regex of the layer names to freeze, e.g. '^model\\.')")
    v = recipe["validation"]
    if v.get("every") and not v.get("annotations"):
        raise RecipeError("validation.annotations: missing (a COCO-format keypoints file) with validation.every")
    if not isinstance(v.get("every", 0), int) or v.get("every", 0) < 0:
        raise RecipeError(f"validation.every: expected a non-negative integer, got {v.get('every')!r}")
    if t["distribute"] not in ("auto", "default", "mirrored", "multi_worker"):
        raise RecipeError(f"training.distribute: unknown {t['distribute']!r} (auto, default, mirrored, multi_worker)")
