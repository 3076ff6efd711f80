"""PersonDetector: image -> tensor -> raw outputs -> person boxes in original image pixels.

Built from a zoo entry with `task: detector`: the runtime comes from the same factory as pose models (so
TFLite/TF/GPU selection and the CPU fallback log line are shared), the box decoder from the entry's codec.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pose_core import zoo
from pose_core.detectors.base import BoxDecoder, PersonBox
from pose_core.preprocess import Preprocessor
from pose_core.runtimes import load_runtime
from pose_core.runtimes.base import Runtime

log = logging.getLogger(__name__)

# name -> decoder class; each takes the entry's codec options.
DECODERS = {"yolox": "pose_core.detectors.yolox:YoloxDecoder"}


def build_decoder(name: str, **options) -> BoxDecoder:
    import importlib

    if name not in DECODERS:
        raise KeyError(f"unknown detector decoder {name!r}; known: {', '.join(DECODERS)}")
    module, cls = DECODERS[name].split(":")
    return getattr(importlib.import_module(module), cls)(**options)


class PersonDetector:
    def __init__(self, runtime: Runtime, preprocessor: Preprocessor, decoder: BoxDecoder, name: str = "",
                 channels_first: bool = False):
        self.runtime, self.preprocessor, self.decoder = runtime, preprocessor, decoder
        self.name = name
        self.channels_first = channels_first      # NCHW input (models exported from PyTorch via ONNX)

    def __call__(self, image_bgr: np.ndarray, color: str = "bgr") -> list[PersonBox]:
        """uint8 image (colour order `color`) -> person boxes in its pixels (clipped to the image), best first."""
        tensor, transform = self.preprocessor(image_bgr, None, color)
        if self.channels_first:
            tensor = np.ascontiguousarray(tensor.transpose(2, 0, 1))
        outputs = [o[0] for o in self.runtime(tensor[None])]
        h, w = image_bgr.shape[:2]
        size = self.preprocessor.target_size(w, h)
        boxes = []
        for b in self.decoder.decode(outputs, size):
            (x0, y0), (x1, y1) = transform.to_image(np.array([[b.x0, b.y0], [b.x1, b.y1]], np.float32))
            x0, x1 = float(np.clip(x0, 0, w)), float(np.clip(x1, 0, w))
            y0, y1 = float(np.clip(y0, 0, h)), float(np.clip(y1, 0, h))
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                boxes.append(PersonBox(x0, y0, x1, y1, b.score))
        return boxes

    def describe(self) -> str:
        return f"{self.name} - {self.runtime.describe()}"


def load_detector(name: str, *, runtime: str | None = None, device: str = "cpu", threads: int | None = None,
                  models_dir: str | Path | None = None, download: bool = False, verify: bool = False,
                  **decoder_options) -> PersonDetector:
    """A detector zoo entry (or a model folder whose model.yaml says `task: detector`). decoder_options
    override the entry's (score_threshold, nms_iou, max_people)."""
    spec = zoo.get_spec(name, task="detector")
    from pose_core.detectors import build
    if build.recipe(spec, runtime) is not None:     # built here from a source file (yolox/nano-int8)
        kind, path = build.built_file(spec, runtime, models_dir, download=download)
    else:
        kind, path = zoo.resolve(spec, runtime, Path(models_dir) if models_dir else None,
                                 download=download, verify=verify)
    f = spec.files.get(kind) or zoo.ModelFile(path=str(path))
    rt = load_runtime(kind, path, inputs=f.inputs, outputs=f.outputs, device=device, threads=threads)
    options = {k: v for k, v in spec.codec.items() if k != "name"}
    options.update({k: v for k, v in decoder_options.items() if v is not None})
    decoder = build_decoder(spec.codec["name"], **options)
    pre = Preprocessor.from_spec(spec.preprocess, tuple(spec.input_size), rt.input_dtype)
    log.info("loaded detector %s: %s runtime on %s, input %dx%d", spec.name, kind, rt.device,
             *spec.input_size)
    return PersonDetector(rt, pre, decoder, name=spec.name,
                          channels_first=spec.preprocess.get("tensor_layout", "nhwc") == "nchw")
