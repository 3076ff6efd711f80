"""YOLOX-nano detectors side by side: the fp16 zoo file (yolox/nano), our TFLite fp32 and our int8 (both
`pose import yolox` of the upstream ONNX; the int8 is byte-identical to the zoo's built yolox/nano-int8),
and for comparison the full-integer int8 of the same model that the import does not ship.

    .venv/bin/python benchmarks/yolox_detectors.py [--images DIR] [--threads 2] [--repeat 10] [--out bench]
        -> bench/yolox_detectors.md

Prints (and writes) one markdown table: network ms (median and p90 over every photo x repeat, the models interleaved
so machine load hits them alike, with the load average), and agreement with onnxruntime running the ONNX
(worst and mean IoU over the ONNX person boxes scoring >= 0.5, people found on cat.jpg). Needs
onnxruntime (requirements/dev.txt) for the agreement columns.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from table_output import add_out_argument, write_table


def iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def onnx_person_boxes(onnx_path: Path, images: dict, threads: int) -> dict:
    import onnxruntime as ort

    from pose_core.convert.yolox_export import preprocessor
    from pose_core.detectors.yolox import YoloxDecoder

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    pre, decoder, out = preprocessor(), YoloxDecoder(), {}
    for name, image in images.items():
        x, transform = pre(image)
        raw = session.run(None, {"images": x.transpose(2, 0, 1)[None]})[0][0]
        boxes = []
        for b in decoder.decode([raw], (416, 416)):
            (x0, y0), (x1, y1) = transform.to_image(np.array([[b.x0, b.y0], [b.x1, b.y1]], np.float32))
            boxes.append((float(x0), float(y0), float(x1), float(y1), b.score))
        out[name] = boxes
    return out


def main(argv: list[str] | None = None) -> int:
    from pose_core.convert.yolox_export import calibration_batches, image_paths, import_yolox
    from pose_core.convert.yolox_onnx import convert_yolox_onnx
    from pose_core.detectors import load_detector
    from pose_core.export import export_tflite
    from pose_core.zoo import ModelFile, default_models_dir, load_spec_file, write_spec_file

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=Path,
                   default=Path(os.environ.get("POSE_TEST_IMAGES", "../shared/data/images")))
    p.add_argument("--models-dir", type=Path, default=default_models_dir())
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=10)
    add_out_argument(p, "yolox_detectors.md", Path("bench"))
    args = p.parse_args(argv)
    onnx_path = args.models_dir / "detectors/yolox-nano/yolox_nano.onnx"
    images = {f.name: cv2.imread(str(f)) for f in sorted(args.images.iterdir())
              if f.suffix.lower() in (".jpg", ".jpeg", ".png")}
    with tempfile.TemporaryDirectory() as tmp:
        import_yolox(onnx_path, tmp, ["tflite_fp32", "tflite_int8"], representative=args.images)
        # For comparison: full-integer int8 of the same model (what the import does NOT ship).
        full = Path(tmp) / "full_int8.tflite"
        model = convert_yolox_onnx(onnx_path)
        export_tflite(model, full, "int8", (416, 416),
                      calibration_batches(image_paths(args.images)))
        int8 = load_spec_file(Path(tmp) / "model_tflite_int8.yaml")
        write_spec_file(dataclasses.replace(int8, files={"tflite": ModelFile(path=full.name)}),
                        Path(tmp) / "full_int8.yaml")
        threads = args.threads
        rows = [("yolox/nano (zoo fp16 file, NCHW)",
                 load_detector("yolox/nano", models_dir=args.models_dir, threads=threads)),
                ("pose import yolox: TFLite fp32", load_detector(f"{tmp}/model_tflite_fp32.yaml", threads=threads)),
                ("pose import yolox: TFLite int8", load_detector(f"{tmp}/model_tflite_int8.yaml", threads=threads)),
                ("full-integer int8 (not shipped)", load_detector(f"{tmp}/full_int8.yaml", threads=threads))]
        tensors = {}
        for label, det in rows:
            xs = []
            for image in images.values():
                x = det.preprocessor(image)[0]
                xs.append((np.ascontiguousarray(x.transpose(2, 0, 1)) if det.channels_first else x)[None])
            for x in xs[:2]:
                det.runtime(x)                          # warm-up
            tensors[label] = xs
        times = {label: [] for label, _ in rows}
        loads = []
        for _ in range(args.repeat):
            for label, det in rows:
                for x in tensors[label]:
                    t0 = time.perf_counter()
                    det.runtime(x)
                    times[label].append((time.perf_counter() - t0) * 1e3)
            loads.append(os.getloadavg()[0])
        try:
            reference = onnx_person_boxes(onnx_path, images, args.threads)
        except ImportError:
            reference = None
        lines = ["| detector | network ms median | p90 | worst IoU vs ONNX | mean IoU | people on cat.jpg |",
                 "|---|---:|---:|---:|---:|---:|"]
        for label, det in rows:
            ious, cat = [], "-"
            for name, image in images.items():
                found = [(b.x0, b.y0, b.x1, b.y1) for b in det(image)]
                if name == "cat.jpg":
                    cat = str(len(found))
                if reference is not None:
                    ious += [max((iou(r, f) for f in found), default=0.0) for r in reference[name] if r[4] >= 0.5]
            worst = f"{min(ious):.3f}" if ious else "-"
            mean = f"{np.mean(ious):.3f}" if ious else "-"
            lines.append(f"| {label} | {np.median(times[label]):.1f} | {np.percentile(times[label], 90):.1f} | "
                         f"{worst} | {mean} | {cat} |")
        lines.append(f"\n{len(images)} photos x {args.repeat} runs each, {args.threads} threads, models interleaved; "
                     f"load average {min(loads):.1f}-{max(loads):.1f}; {len(ious)} ONNX person boxes >= 0.5")
    print("\n".join(lines))
    write_table(args.out, "yolox_detectors.md", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
