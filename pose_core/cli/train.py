"""`pose train RECIPE.yaml [--override k=v ...] [--data-service grpc://host:port]` (also `pose-train`).

Trains from a recipe (training/configs/*.yaml), resuming from the newest checkpoint in the run's
work_dir; Ctrl-C / SIGTERM finish the step, checkpoint and exit. `--export-only` exports the newest
checkpoint without training.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

log = logging.getLogger("pose.train")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="training recipe YAML (training/configs/*.yaml)")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="change one recipe field, e.g. training.steps=200 (repeatable)")
    p.add_argument("--data-service", metavar="grpc://HOST:PORT",
                   help="take augmented batches from a tf.data service dispatcher (pose data-service)")
    p.add_argument("--work-dir", help="override the recipe's work_dir (checkpoints, logs, export)")
    p.add_argument("--export-only", action="store_true",
                   help="export the newest checkpoint to the zoo format and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")


def run(args) -> int:
    from pose_core.training.recipe import RecipeError, load_recipe

    overrides = list(args.override)
    if args.work_dir:
        overrides.append(f"work_dir={args.work_dir}")
    if args.no_progress:
        overrides.append("training.progress=false")
    if args.data_service and not args.data_service.startswith("grpc://"):
        raise RecipeError(f"--data-service {args.data_service!r}: expected grpc://host:port")
    recipe = load_recipe(args.recipe, overrides)

    from pose_core.training.trainer import Trainer
    trainer = Trainer(recipe, data_service=args.data_service)
    if args.export_only:
        if trainer.restored is None:
            raise RecipeError(f"--export-only: no checkpoint in {trainer.checkpointer.directory}")
        print(json.dumps(trainer.export(), indent=1))
        return 0
    result = trainer.fit()
    if trainer.chief:
        out = trainer.work_dir / "train_result.json"
        out.write_text(json.dumps(result, indent=1))
        print(f"step {result['steps']}/{recipe['training']['steps']}  loss {result['loss']}  "
              f"images/s {result['images_per_sec']}  -> {trainer.work_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`pose-train` console script: the same as `pose train` (one error and logging policy: pose_core.cli)."""
    from pose_core.cli import main as pose_main

    return pose_main(["train", *(sys.argv[1:] if argv is None else argv)], entry_point=argv is None)


if __name__ == "__main__":
    sys.exit(main())
