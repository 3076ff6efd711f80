"""`pose import tfpose GRAPH.pb --out DIR` / `pose import lwopenpose CHECKPOINT.pth --out DIR` /
`pose import openvino human-pose-estimation-0001.xml --out DIR` /
`pose import yolox yolox_nano.onnx --out DIR [--formats tflite_fp32,tflite_int8] [--representative IMAGES]`:
published weights -> our Keras architectures, written in the zoo format (DIR/model.keras + model.yaml).
See docs/import.md."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger("pose_core.import")

TFPOSE_SOURCE = "https://github.com/ildoonet/tf-pose-estimation"
LWOPENPOSE_SOURCE = "https://github.com/Daniil-Osokin/lightweight-human-pose-estimation.pytorch"
OMZ_SOURCE = "https://github.com/openvinotoolkit/open_model_zoo/tree/master/models/intel/human-pose-estimation-0001"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="format", metavar="FORMAT")
    sub.required = True
    tp = sub.add_parser("tfpose", help="tf-pose-estimation mobilenet_v2_small frozen graph (graph_opt.pb)")
    tp.add_argument("source", type=Path, help="frozen graph .pb")
    tp.add_argument("--no-check", action="store_true",
                    help="skip the parity check against the frozen graph (random 368x432 input)")
    tp.add_argument("--int8", metavar="IMAGES", type=Path, default=None,
                    help="also write model_int8.tflite (+ model_int8.yaml): int8 convolutions calibrated on "
                         "this folder of images, per-image batch norms kept float (see docs/import.md)")
    tp.add_argument("--calibration", type=int, default=100, help="max images for --int8 calibration")
    lw = sub.add_parser("lwopenpose", help="Lightweight OpenPose PyTorch checkpoint (.pth); torch not needed")
    lw.add_argument("source", type=Path, help="checkpoint .pth (zip or legacy torch.save format)")
    ov = sub.add_parser("openvino", help="Open Model Zoo human-pose-estimation-0001 OpenVINO IR (.xml + .bin "
                                         "beside it; FP32, FP16 or FP16-INT8); openvino not needed")
    ov.add_argument("source", type=Path, help="IR .xml (the .bin of the same name must be beside it)")
    yx = sub.add_parser("yolox", help="YOLOX-nano person detector ONNX (Megvii's yolox_nano.onnx) -> TFLite "
                                      "detector folder; onnx package needed, onnxruntime not")
    yx.add_argument("source", type=Path, help="yolox_nano.onnx")
    yx.add_argument("--formats", default="tflite_fp32",
                    help="comma-separated: tflite_fp32, tflite_int8 (model.yaml = the first)")
    yx.add_argument("--representative", metavar="IMAGES", type=Path, default=None,
                    help="real photos for int8 calibration, letterboxed as at inference (folder, COCO .json "
                         "or .txt list)")
    yx.add_argument("--calibration", type=int, default=100, help="max images for int8 calibration")
    yx.add_argument("--out", type=Path, required=True,
                    help="output folder (model_fp32.tflite / model_int8.tflite, a yaml for each, model.yaml)")
    yx.add_argument("--name", default=None, help="model name in model.yaml")
    for p in (tp, lw, ov):
        p.add_argument("--out", type=Path, required=True, help="output folder (model.keras + model.yaml)")
        p.add_argument("--name", default=None, help="model name in model.yaml")


def _import_tfpose(args) -> Path:
    from pose_core.convert.tfpose import convert_tfpose_graph, parity_error, read_graph_def
    from pose_core.convert.zoo_entry import write_imported_model
    from pose_core.hashing import sha256_of
    from pose_core.models import inference_model

    model = convert_tfpose_graph(args.source)
    provenance = {"file": args.source.name, "sha256": sha256_of(args.source), "converter": "pose import tfpose"}
    if not args.no_check:
        # Noise over the full 0..255 range exercises every channel; real photos are checked in the tests.
        image = np.random.default_rng(0).uniform(0, 255, (368, 432, 3)).astype(np.float32)
        err = parity_error(inference_model(model), read_graph_def(args.source), [image])
        log.info("parity with the frozen graph: max |difference| %.2e", err)
        provenance["parity_max_abs"] = float(err)
        if err > 1e-4:
            from pose_core.errors import CheckpointError
            raise CheckpointError(f"converted model differs from the frozen graph by {err:.2e} (> 1e-4)")
    yaml_path = write_imported_model(
        model, args.out, name=args.name or "tf-pose/mobilenet_v2_small-keras",
        description="tf-pose-estimation mobilenet_v2_small imported into pose_core's Keras architecture "
                    "(fine-tunable, exportable)",
        input_size=(432, 368), resize="stretch", licence="Apache-2.0", source=TFPOSE_SOURCE,
        imported_from=provenance)
    if args.int8 is not None:
        from pose_core.convert.zoo_entry import write_tflite_entry
        from pose_core.export import export_tflite_int8_mixed

        tflite = export_tflite_int8_mixed(inference_model(model), args.out / "model_int8.tflite", args.int8,
                                          (432, 368), args.calibration)
        write_tflite_entry(yaml_path, tflite, input_size=(432, 368), quantization="int8-mixed")
    return yaml_path


def _import_lwopenpose(args) -> Path:
    from pose_core.convert.lwopenpose import convert_lwopenpose_checkpoint
    from pose_core.convert.zoo_entry import write_imported_model
    from pose_core.hashing import sha256_of

    model = convert_lwopenpose_checkpoint(args.source)
    return write_imported_model(
        model, args.out, name=args.name or "lightweight-openpose/imported",
        description="Lightweight OpenPose (MobileNetV1 + refinement stages) imported from a PyTorch checkpoint",
        input_size=(456, 256), resize="letterbox", licence="Apache-2.0", source=LWOPENPOSE_SOURCE,
        imported_from={"file": args.source.name, "sha256": sha256_of(args.source),
                       "converter": "pose import lwopenpose"})


def _import_openvino(args) -> Path:
    from pose_core.convert.openvino_ir import convert_openvino_ir
    from pose_core.convert.zoo_entry import write_imported_model
    from pose_core.hashing import sha256_of

    imported = convert_openvino_ir(args.source)
    bin_path = args.source.with_suffix(".bin")
    return write_imported_model(
        imported.model, args.out, name=args.name or "lightweight-openpose/omz-0001-keras",
        description="Lightweight OpenPose (Intel Open Model Zoo human-pose-estimation-0001) imported from "
                    "its OpenVINO IR" + (" (int8 weights dequantised to float32)" if imported.quantized else ""),
        input_size=(456, 256), resize="letterbox", licence="Apache-2.0", source=OMZ_SOURCE,
        imported_from={"file": args.source.name, "sha256": sha256_of(args.source),
                       "weights": bin_path.name, "weights_sha256": sha256_of(bin_path),
                       "converter": "pose import openvino",
                       "ir_input_scaling": {"scale": [float(v) for v in imported.input_scale],
                                            "offset": [float(v) for v in imported.input_offset]}})


def _import_yolox(args) -> Path:
    from pose_core.convert.yolox_export import import_yolox

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    return import_yolox(args.source, args.out, formats, representative=args.representative,
                        calibration=args.calibration, name=args.name)


def run(args) -> int:
    importer = {"tfpose": _import_tfpose, "lwopenpose": _import_lwopenpose,
                "openvino": _import_openvino, "yolox": _import_yolox}[args.format]
    yaml_path = importer(args)
    print(f"imported {args.source} -> {yaml_path}")
    return 0
