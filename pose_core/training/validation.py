"""Validation during training: the model as it would be shipped, scored the way `pose eval` scores it.

Every `validation.every` steps (and at step 0, and at the end) the current weights are exported to a
model folder (keras only, batch norm folded, exactly what `pose export` writes), run over the held-out
COCO-format set by `pose eval`'s own `predict_dataset`, and scored with pycocotools (OKS AP; PCKh@0.5 for
MPII-16 ground truth). So the number in the log is the number `pose eval --model work_dir/best` gives.

Each result is appended to work_dir/validation.jsonl (it survives a kill; a resumed run does not
evaluate a step twice), written to TensorBoard (`val/AP`, ...), and the best one so far replaces
work_dir/best/ (a model folder the estimator and the node take by path, plus best.json and the training
weights as model.weights.h5).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from pose_core.training.recipe import RecipeError

log = logging.getLogger(__name__)

HISTORY = "validation.jsonl"
BEST = "best"


class Validator:
    def __init__(self, recipe: dict, work_dir: str | Path):
        from pose_core.errors import DatasetError
        from pose_core.evaluation import ground_truth_layout, load_ground_truth
        from pose_core.layouts import MPII16

        cfg = recipe["validation"]
        self.cfg = cfg
        self.name = recipe["name"]
        self.work_dir = Path(work_dir)
        gt = Path(cfg["annotations"])
        try:
            self.coco = load_ground_truth(str(gt))
        except DatasetError:
            raise
        except Exception as exc:   # pycocotools asserts on malformed files
            raise RecipeError(f"validation.annotations: cannot read {gt}: {exc}") from None
        self.layout = ground_truth_layout(self.coco)
        self.images = Path(cfg["images"]) if cfg.get("images") else gt.parent.parent / "images"
        if not self.images.is_dir():
            raise RecipeError(f"validation.images: folder {self.images} not found")
        self.metric = "PCKh@0.5" if self.layout.name == MPII16.name else str(cfg.get("metric") or "AP")

    # ---- history ----------------------------------------------------------------------------------
    def history(self) -> list[dict]:
        path = self.work_dir / HISTORY
        if not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:   # a line cut by a kill mid-write
                continue
        return rows

    def done(self, step: int) -> bool:
        return any(r.get("step") == step for r in self.history())

    def best(self) -> dict | None:
        rows = [r for r in self.history() if r.get(self.metric) is not None]
        return max(rows, key=lambda r: (r[self.metric], -r["step"])) if rows else None

    # ---- one evaluation -----------------------------------------------------------------------------
    def evaluate(self, model, step: int, extra: dict | None = None) -> dict:
        """Export `model` (the training model), score it, record it; returns the history row."""
        from pose_core.cli.evaluate import predict_dataset
        from pose_core.evaluation import evaluate_keypoints, evaluate_pckh
        from pose_core.export import export_model

        folder = self.work_dir / f".validation-{step}-{os.getpid()}"
        shutil.rmtree(folder, ignore_errors=True)
        export_model(model, folder, ["keras"], name=self.name, verify=False)
        results = predict_dataset(str(folder), self.coco, self.images, self.layout,
                                  keypoint_threshold=float(self.cfg.get("keypoint_threshold") or 0.0))
        if self.metric.startswith("PCKh"):
            stats = evaluate_pckh(self.coco, results, self.layout, 0.5)
            stats = {self.metric: float(stats[self.metric])}
        else:
            stats = {k: float(v) for k, v in evaluate_keypoints(self.coco, results).items()
                     if isinstance(v, (int, float))}
        row = {"step": int(step), **stats, "predictions": len(results), **(extra or {})}
        best = self.best()
        is_best = best is None or row[self.metric] > best[self.metric]
        with open(self.work_dir / HISTORY, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if is_best:
            self._keep_best(model, folder, row)
        else:
            shutil.rmtree(folder, ignore_errors=True)
        log.info("validation at step %d: %s %.4f%s", step, self.metric, row[self.metric],
                 " (best so far)" if is_best else f" (best {best[self.metric]:.4f} at step {best['step']})")
        return row

    def _keep_best(self, model, folder: Path, row: dict) -> None:
        model.save_weights(str(folder / "model.weights.h5"))   # training weights: init_checkpoint takes them
        (folder / "best.json").write_text(json.dumps(row, indent=1))
        best = self.work_dir / BEST
        old = self.work_dir / f".{BEST}-old-{os.getpid()}"
        if best.exists():
            os.rename(best, old)
        os.rename(folder, best)        # the folder is complete before it gets the name
        shutil.rmtree(old, ignore_errors=True)

    def cleanup(self) -> None:
        """Remove folders a killed run left half-written."""
        for stale in self.work_dir.glob(".validation-*"):
            shutil.rmtree(stale, ignore_errors=True)
        for stale in self.work_dir.glob(f".{BEST}-old-*"):
            if (self.work_dir / BEST).exists():
                shutil.rmtree(stale, ignore_errors=True)
            else:                       # killed between the two renames: the old best is still good
                os.rename(stale, self.work_dir / BEST)
