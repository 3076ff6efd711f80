"""PoseEstimator: the straight line image -> tensor -> maps -> people (original image pixels).

    est = PoseEstimator.from_zoo("tf-pose/mobilenet_v2_small")
    people = est(image_bgr)

Optional flip test and multi-scale averaging work on the maps (before decoding), for codecs that can
mirror and average their maps.

Stateless: each call depends on its image (and arguments) only. What carries from one frame of a video to
the next (a single-pose model's crop around the last pose) is the stream layer's (pose_core.stream), which
passes the crop in: `estimate(frame, crop=box)`.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from pose_core import zoo
from pose_core.codecs import build_codec, codec_class
from pose_core.codecs.base import Codec
from pose_core.flip import check_flip_test
from pose_core.image_io import MAX_PIXELS, to_uint8_color
from pose_core.layouts import get_layout
from pose_core.people import Person, filter_people
from pose_core.preprocess import Preprocessor
from pose_core.runtimes import cache as runtime_cache
from pose_core.runtimes import load_runtime
from pose_core.runtimes.base import Runtime
from pose_core.scales import check_network_size, check_scales

log = logging.getLogger(__name__)


class PoseEstimator:
    def __init__(self, runtime: Runtime, preprocessor: Preprocessor, codec: Codec, name: str = "",
                 flip_test: bool = False, scales: tuple[float, ...] = (1.0,), max_pixels: int = MAX_PIXELS,
                 supports_crop_tracking: bool = False, min_person_score: float = 0.0,
                 min_keypoint_score: float = 0.0):
        self.runtime, self.preprocessor, self.codec = runtime, preprocessor, codec
        # The result filter (pose_core.people.filter_people); the codec itself only decodes.
        self.min_person_score, self.min_keypoint_score = float(min_person_score), float(min_keypoint_score)
        self.layout = codec.layout
        self.name = name
        self.flip_test = flip_test
        if flip_test:
            check_flip_test(codec, name)     # one line naming the models that can
        self.scales = check_scales(scales)     # finite, in (0, 4]: no 0 people, no 10 GB tensor
        self.max_pixels = max_pixels
        if self.scales != (1.0,) and runtime.fixed_input_size is not None:
            raise ValueError(f"{name}: multi-scale needs a model that accepts any input size")
        # The zoo entry says `crop_tracking: true`: a stream may feed this model crops around the last pose
        # (pose_core.stream.CropTrackingStream). A property of the model, not stream state.
        self.supports_crop_tracking = bool(supports_crop_tracking)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_zoo(cls, name: str, *, runtime: str | None = None, device: str = "cpu",
                 threads: int | None = None, input_size: tuple[int, int] | str | None = None,
                 models_dir: str | Path | None = None, download: bool = False, verify: bool = False,
                 flip_test: bool = False, scales: tuple[float, ...] = (1.0,),
                 min_person_score: float | None = None, min_keypoint_score: float | None = None,
                 **codec_options) -> "PoseEstimator":
        """name: a zoo name or an exported model's folder/model.yaml. input_size: (w, h), "WxH",
        "native" (the image's own size, rounded up to the stride) or None (the entry's default).
        min_person_score, min_keypoint_score: the result filter; None = the entry's value, else 0 (all).
        Crop tracking on a video stream (entries with `crop_tracking: true`): pose_core.stream."""
        spec = zoo.get_spec(name)
        if flip_test:                 # before loading anything
            check_flip_test(codec_class(spec.codec.get("name", "")), spec.name)
        kind, path = zoo.resolve(spec, runtime, Path(models_dir) if models_dir else None,
                                 download=download, verify=verify)
        f = spec.files[kind]
        # The source format's checked TFLite fp32 where that is the default (pose_core.runtimes.cache).
        kind, path = runtime_cache.prefer_tflite(spec, kind, path, requested=runtime, device=device,
                                                 input_size=_parse_input_size(input_size, spec)
                                                 if tuple(scales) == (1.0,) else None)
        rt = load_runtime(kind, path, inputs=f.inputs, outputs=f.outputs, device=device, threads=threads)
        layout = get_layout(spec.layout)
        options = {k: v for k, v in spec.codec.items() if k != "name"}
        options.update(codec_options)
        codec = build_codec(spec.codec["name"], layout, **options)
        size = _parse_input_size(input_size, spec)
        if rt.fixed_input_size is not None and size != rt.fixed_input_size:
            if input_size is not None:
                log.warning("%s only accepts %dx%d input; ignoring input size %s", spec.name,
                            *rt.fixed_input_size, input_size)
            size = rt.fixed_input_size
        pre = Preprocessor.from_spec(spec.preprocess, size, rt.input_dtype,
                                     size_multiple=int(spec.preprocess.get("size_multiple",
                                                                           spec.codec.get("stride", 1))))
        log.info("loaded %s: %s runtime on %s, input %s", spec.name, kind, rt.device,
                 "native" if size is None else "%dx%d" % size)
        stated = zoo.spec_filter(spec)
        return cls(rt, pre, codec, name=spec.name, flip_test=flip_test, scales=scales,
                   supports_crop_tracking=bool(spec.extra.get("crop_tracking")),
                   min_person_score=stated.get("min_person_score", 0.0) if min_person_score is None
                   else min_person_score,
                   min_keypoint_score=stated.get("min_keypoint_score", 0.0) if min_keypoint_score is None
                   else min_keypoint_score)

    from_file = from_zoo

    # ------------------------------------------------------------------ inference
    def __call__(self, image: np.ndarray, color: str = "bgr") -> list[Person]:
        return self.estimate(image, color=color)

    def estimate(self, image: np.ndarray, color: str = "bgr", return_timing: bool = False,
                 crop: tuple[int, int, int, int] | None = None):
        """People in `image` (original pixels), and with return_timing the ms of each step.
        crop: a square (x0, y0, x1, y1) in image pixels, possibly reaching outside it: the network sees only
        that box (zeros outside the image), with no flip test or scales - a single-pose model following a
        person on a stream (pose_core.stream.CropTrackingStream proposes the box)."""
        t0 = time.perf_counter()
        # Colour order kept: the preprocessor swaps channels only when the network wants the other order.
        image, color = to_uint8_color(image, color, max_pixels=self.max_pixels)
        h, w = image.shape[:2]
        base_w, base_h = self.preprocessor.target_size(w, h)
        runs = []  # (tensor, transform, flipped)
        if crop is not None:
            from pose_core.crop_tracking import crop_input
            runs.append((*crop_input(self.preprocessor, image, crop, color), False))
        for s in self.scales if not runs else ():
            size = None if s == 1.0 else _scaled(base_w, base_h, s, self.preprocessor.size_multiple)
            check_network_size(*(size or (base_w, base_h)), s)
            tensor, transform = self.preprocessor(image, size, color)
            runs.append((tensor, transform, False))
            if self.flip_test:
                runs.append((tensor[:, ::-1], transform, True))
        t1 = time.perf_counter()
        outputs = [[o[0] for o in self.runtime(t[None])] for t, _, _ in runs]
        t2 = time.perf_counter()
        outputs = [self.codec.flip_back(o) if flipped else o for o, (_, _, flipped) in zip(outputs, runs)]
        merged = outputs[0] if len(outputs) == 1 else self.codec.average(outputs)
        tensor, transform, _ = runs[0]
        people = self.codec.decode(merged, (tensor.shape[1], tensor.shape[0]))
        for p in people:
            seen = p.keypoints[:, 2] > 0
            p.keypoints[seen, :2] = transform.to_image(p.keypoints[seen, :2])
            # A keypoint decoded in the letterbox padding is a guess outside the photo: not detected.
            x, y = p.keypoints[:, 0], p.keypoints[:, 1]
            seen &= (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
            p.drop_keypoints(~seen)
            if p.box is not None:
                (x0, y0), (x1, y1) = transform.to_image(np.asarray(p.box, np.float32).reshape(2, 2))
                p.box = (float(x0), float(y0), float(x1), float(y1))
        people = filter_people(people, self.min_person_score, self.min_keypoint_score)
        t3 = time.perf_counter()
        if not return_timing:
            return people
        ms = lambda a, b: (b - a) * 1000.0  # noqa: E731
        return people, {"preprocess": ms(t0, t1), "network": ms(t1, t2), "decode": ms(t2, t3),
                        "total": ms(t0, t3)}

    def describe(self) -> str:
        return f"{self.name} ({self.layout.name}) - {self.runtime.describe()}"


def _parse_input_size(value, spec: zoo.ModelSpec) -> tuple[int, int] | None:
    if value is None:
        return tuple(spec.input_size)
    if isinstance(value, str):
        if value.lower() == "native":
            return None
        try:
            w, h = (int(v) for v in value.lower().split("x"))
        except ValueError:
            raise ValueError(f"input size must be WxH or 'native', not {value!r}") from None
        value = (w, h)
    w, h = (int(v) for v in value)
    if w < 16 or h < 16:
        raise ValueError(f"input size {w}x{h} is too small")
    return (w, h)


def _scaled(w: int, h: int, s: float, multiple: int) -> tuple[int, int]:
    m = max(1, multiple)
    return (max(m, int(round(w * s / m)) * m), max(m, int(round(h * s / m)) * m))
