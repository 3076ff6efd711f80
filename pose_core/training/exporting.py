"""End-of-training export: the trained model into the zoo format (pose_core.export), so
`PoseEstimator.from_file(work_dir/export)` and the ROS node load it.

The training model is first saved as `trained.keras` (every stage's outputs; a later stage or a
fine-tuning run can start from it with model.init_checkpoint) and the exporter reads that file: this
also proves the trained model survives a save/load round trip.
"""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def export_trained(model, out_dir: str | Path, recipe: dict) -> dict:
    from pose_core.export import export_model

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = recipe.get("export") or {}
    trained = out_dir / "trained.keras"
    tmp = out_dir / ".trained.tmp.keras"
    model.save(tmp)
    tmp.replace(trained)   # a half-written file never has the final name
    representative = cfg.get("representative") or (recipe.get("data") or {}).get("images")
    formats = list(cfg.get("formats") or ["keras"])
    if "tflite_int8" not in formats:
        representative = None
    result = export_model(trained, out_dir, formats=formats, name=recipe["name"],
                          representative=representative)
    summary = {"trained": str(trained), "files": {k: str(v) for k, v in result.files.items()},
               "skipped": dict(result.skipped), "checks": dict(result.checks),
               "model_yaml": str(result.yaml_files.get("model", ""))}
    log.info("exported %s -> %s", ", ".join(result.files), out_dir)
    return summary
