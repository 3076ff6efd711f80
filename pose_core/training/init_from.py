"""`model.init_from: DIR`: start training from a model folder (`pose import ...` or `pose export` output).

The folder's model.yaml says which architecture and builder params made it (`architecture:`); the recipe
only names the folder. The training model is rebuilt from those params (recipe `model.params` override
single ones) at the folder's input size, so the export of the fine-tuned model serves like the original,
and every weight is copied by layer name and shape from the folder's Keras file. A layer of the training
model the file lacks, or has with other shapes, stops the run: a fine-tune that silently started some
layers from random init would look like a bad dataset.
"""
from __future__ import annotations

import logging
from pathlib import Path

import yaml

from pose_core.training.recipe import RecipeError

log = logging.getLogger(__name__)


def read_model_folder(path: str | Path) -> tuple[dict, Path]:
    """(model.yaml content, the .keras file holding the weights). `path` is the folder or its model.yaml.
    An export's trained.keras (every stage, as trained) is preferred over the inference model.keras."""
    path = Path(path)
    folder = path.parent if path.suffix in (".yaml", ".yml") else path
    entry_file = path if path.suffix in (".yaml", ".yml") else folder / "model.yaml"
    if not entry_file.is_file():
        raise RecipeError(f"model.init_from: {entry_file} not found (give a folder written by "
                          f"`pose import` or `pose export`)")
    try:
        entry = yaml.safe_load(entry_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"model.init_from: cannot read {entry_file}: {exc}") from None
    arch = entry.get("architecture") if isinstance(entry, dict) else None
    if not isinstance(arch, dict) or not arch.get("name"):
        raise RecipeError(f"model.init_from: {entry_file} has no 'architecture' (name, params): it was not "
                          f"written by `pose import`/`pose export`, so its weights cannot be trained")
    keras_file = folder / "trained.keras"
    if not keras_file.is_file():
        rel = ((entry.get("files") or {}).get("keras") or {}).get("path")
        if not rel:
            raise RecipeError(f"model.init_from: {entry_file} lists no keras file (files.keras.path)")
        keras_file = folder / rel
    if not keras_file.is_file():
        raise RecipeError(f"model.init_from: {keras_file} not found")
    return entry, keras_file


def resolve_init_from(recipe: dict) -> None:
    """Fill model.name / model.params from the init_from folder (in place). Recipe values win."""
    model = recipe["model"]
    if not model.get("init_from"):
        return
    entry, _ = read_model_folder(model["init_from"])
    arch = entry["architecture"]
    if model.get("name") and model["name"] != arch["name"]:
        raise RecipeError(f"model.name {model['name']!r} differs from the architecture of "
                          f"{model['init_from']} ({arch['name']!r}); leave model.name out")
    model["name"] = arch["name"]
    params = dict(arch.get("params") or {})
    # The folder's serving size: the export of the fine-tuned model then runs at the same size.
    if entry.get("input_size") and "input_size" not in (model.get("params") or {}):
        params["input_size"] = list(entry["input_size"])
        params.setdefault("fixed_input_size", bool(entry.get("fixed_input_size", False)))
    params.update(model.get("params") or {})
    model["params"] = params


def load_init_from(model, path: str | Path) -> dict:
    """Copy the folder's weights into `model` by layer name and shape; every weighted layer must load."""
    from pose_core.models.init_weights import _all_layers, load_init_weights

    _, keras_file = read_model_folder(path)
    result = load_init_weights(model, keras_file, what="init_from")
    loaded = set(result["loaded"])
    missing = [layer.name for layer in _all_layers(model) if layer.weights and layer.name not in loaded]
    if missing and not (keras_file.parent / "trained.keras").exists() and any(
            n.endswith("_bn") or "bn" in n.split(".")[-1] for n in missing):
        raise RecipeError(f"model.init_from: {keras_file} has its batch norms folded into the convolutions "
                          f"(a `pose export` file) and cannot be trained further; start from the training "
                          f"run's export folder (it keeps trained.keras) or its checkpoint "
                          f"(model.init_checkpoint)")
    if missing:
        raise RecipeError(f"model.init_from: {keras_file} has no weights (by name and shape) for "
                          f"{len(missing)} layer(s) of {model.name}: {', '.join(missing[:6])}"
                          f"{' ...' if len(missing) > 6 else ''}")
    log.info("init_from %s: all %d weighted layers loaded", keras_file, len(loaded))
    return result
