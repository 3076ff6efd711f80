"""OpenPose family (Cao et al.): a backbone, then T stages of two branches - part affinity fields (L1)
and heatmaps (L2). Stage t > 1 reads concat([PAFs, heatmaps, features]) of stage t-1.

- openpose_cmu: VGG-19 to conv4_2 (stride 8) + conv4_3_CPM / conv4_4_CPM, stage 1 with 3x3 convs, stages
  2..T with 7x7 convs; layer names are the published Caffe model's (conv1_1 ... conv4_4_CPM,
  conv5_{1..5}_CPM_L{1,2}, Mconv{1..7}_stage{t}_L{1,2}). Input normalised x/256 - 0.5.
- openpose_mobilenet_thin: tf-pose-estimation style: MobileNetV1 (width `alpha`) with the stride-4, -8 and
  -16 features brought to stride 8 (max-pool / resize) and concatenated; stage branches of separable convs
  (3 x 3x3, 1x1 wide, 1x1 out) whose width is `head_alpha` x 128.
- openpose_mobilenet_v2: the same with MobileNetV2 inverted residuals (stride-8 and upsampled stride-16
  features concatenated), `alpha` 1.0 = "large", 0.5 = "small" in tf-pose terms.

Outputs: stage{t}_pafs (2 per layout.paf_limbs, at those channel indices) and stage{t}_heatmaps
(num_keypoints + background) for t = 1..stages, stride 8. Inference: concat([heatmaps, pafs]) of the last
stage, as the PAF codec reads it.
"""
from __future__ import annotations

from keras import layers

from pose_core.models import layers as L
from pose_core.models.common import finish_model, paf_channels, resolve_layout


def _paf_meta(num_heatmaps):
    return {"name": "paf", "stride": 8, "heatmap_channels": num_heatmaps, "paf_offset": num_heatmaps}


def _two_branch_stages(features, stages, num_pafs, num_heatmaps, branch):
    """Run `stages` two-branch stages; `branch(x, stage, L, out_channels)` builds one branch."""
    outputs = {}
    x = features
    for t in range(1, stages + 1):
        pafs = branch(x, t, 1, num_pafs)
        heat = branch(x, t, 2, num_heatmaps)
        outputs[f"stage{t}_pafs"], outputs[f"stage{t}_heatmaps"] = pafs, heat
        if t < stages:
            x = layers.Concatenate(name=f"concat_stage{t + 1}")([pafs, heat, features])
    return outputs


def build_cmu(layout="openpose18", *, stages: int = 6, alpha: float = 1.0, input_size=(368, 368),
              fixed_input_size: bool = False, init_weights=None):
    """OpenPose CMU (VGG-19 front). alpha scales every conv width (1.0 = published, ~52M params)."""
    layout = resolve_layout(layout)
    num_heatmaps, num_pafs = layout.num_keypoints + 1, paf_channels(layout)
    c = lambda n: max(8, int(round(n * alpha)))   # noqa: E731
    norm = {"scale": 1 / 256, "offset": -0.5}
    inputs, x = L.model_input({}, input_size if fixed_input_size else None, norm)
    vgg = [(64, 2), (128, 2), (256, 4), (512, 2)]
    for block, (ch, n) in enumerate(vgg, start=1):
        for i in range(1, n + 1):
            x = L.conv(x, c(ch), 3, name=f"conv{block}_{i}")
        if block < 4:
            x = layers.MaxPooling2D(2, 2, padding="same", name=f"pool{block}_stage1")(x)
    x = L.conv(x, c(256), 3, name="conv4_3_CPM")
    features = L.conv(x, c(128), 3, name="conv4_4_CPM")

    def branch(x, t, b, out):
        if t == 1:
            for i in range(1, 4):
                x = L.conv(x, c(128), 3, name=f"conv5_{i}_CPM_L{b}")
            x = L.conv(x, c(512), 1, name=f"conv5_4_CPM_L{b}")
            return L.conv(x, out, 1, name=f"conv5_5_CPM_L{b}", activation=None)
        for i in range(1, 6):
            x = L.conv(x, c(128), 7, name=f"Mconv{i}_stage{t}_L{b}")
        x = L.conv(x, c(128), 1, name=f"Mconv6_stage{t}_L{b}")
        return L.conv(x, out, 1, name=f"Mconv7_stage{t}_L{b}", activation=None)

    outputs = _two_branch_stages(features, stages, num_pafs, num_heatmaps, branch)
    return finish_model("openpose_cmu", inputs, outputs, layout=layout, stride=8,
                        params=dict(layout=layout.name, stages=stages, alpha=alpha), input_size=input_size,
                        fixed_input_size=fixed_input_size, normalisation=norm,
                        codec=_paf_meta(num_heatmaps), init_weights=init_weights)


def _separable_branch(width: int, wide: int):
    """tf-pose head branch: 3 x separable 3x3 (width), separable 1x1 (wide), separable 1x1 (out, linear)."""
    def branch(x, t, b, out):
        name = f"MConv_Stage{t}_L{b}"
        for i in range(1, 4):
            x = L.separable(x, width, 3, name=f"{name}_{i}")
        x = L.separable(x, wide, 1, name=f"{name}_4")
        x = L.depthwise(x, 1, name=f"{name}_5_dw", activation=None)
        return L.conv(x, out, 1, name=f"{name}_5_pw", activation=None)
    return branch


def build_mobilenet_thin(layout="openpose18", *, alpha: float = 0.75, head_alpha: float = 0.5,
                         stages: int = 6, input_size=(432, 368), fixed_input_size: bool = False,
                         init_weights=None):
    """tf-pose 'mobilenet_thin': MobileNetV1 (alpha 0.75), features Conv2d_3 (pooled to stride 8) +
    Conv2d_7 + Conv2d_11 (resized to stride 8), separable stage branches (head width 128*head_alpha,
    at least 64)."""
    layout = resolve_layout(layout)
    num_heatmaps, num_pafs = layout.num_keypoints + 1, paf_channels(layout)
    norm = {"scale": 1 / 127.5, "offset": -1.0}
    inputs, x = L.model_input({}, input_size if fixed_input_size else None, norm)
    x = L.conv(x, L.width(32, alpha), 3, 2, name="Conv2d_0", use_bias=False, bn=True)
    # (channels, stride) of Conv2d_1..11: Conv2d_3 at stride 4, Conv2d_7 at 8, Conv2d_11 at 16.
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 1), (512, 1), (512, 2), (512, 1),
            (512, 1), (512, 1)]
    taps = {}
    for i, (ch, s) in enumerate(plan, start=1):
        x = L.separable(x, L.width(ch, alpha), 3, s, name=f"Conv2d_{i}")
        taps[i] = x
    f8 = taps[7]
    f4 = layers.MaxPooling2D(2, 2, padding="same", name="Conv2d_3_pool")(taps[3])
    f16 = L.ResizeToMatch(name="Conv2d_11_upsample")([taps[11], f8])
    features = layers.Concatenate(name="feat_concat")([f4, f8, f16])
    width = max(64, int(128 * head_alpha))
    outputs = _two_branch_stages(features, stages, num_pafs, num_heatmaps,
                                 _separable_branch(width, 4 * width))
    return finish_model("openpose_mobilenet_thin", inputs, outputs, layout=layout, stride=8,
                        params=dict(layout=layout.name, alpha=alpha, head_alpha=head_alpha, stages=stages),
                        input_size=input_size, fixed_input_size=fixed_input_size, normalisation=norm,
                        codec=_paf_meta(num_heatmaps), init_weights=init_weights)


# MobileNetV2 (expansion, channels, repeats, stride), as published, cut after the stride-16 stage.
_MV2_PLAN = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1)]


def build_mobilenet_v2(layout="openpose18", *, alpha: float = 1.0, head_alpha: float = 0.5,
                       stages: int = 6, input_size=(432, 368), fixed_input_size: bool = False,
                       init_weights=None):
    """tf-pose 'mobilenet_v2_large/small' style: MobileNetV2 (alpha 1.0 large / 0.5 small) to stride 16;
    the stride-8 block output and the resized stride-16 output are concatenated."""
    layout = resolve_layout(layout)
    num_heatmaps, num_pafs = layout.num_keypoints + 1, paf_channels(layout)
    norm = {"scale": 1 / 127.5, "offset": -1.0}
    inputs, x = L.model_input({}, input_size if fixed_input_size else None, norm)
    x = L.conv(x, L.width(32, alpha), 3, 2, name="Conv", use_bias=False, bn=True, activation="relu6")
    block, f8 = 0, None
    for expansion, ch, repeats, stride in _MV2_PLAN:
        for r in range(repeats):
            x = L.inverted_residual(x, L.width(ch, alpha), expansion, stride if r == 0 else 1,
                                    name=f"expanded_conv_{block}")
            block += 1
        if ch == 32:
            f8 = x
    f16 = L.ResizeToMatch(name="upsample")([x, f8])
    features = layers.Concatenate(name="feat_concat")([f8, f16])
    width = max(64, int(128 * head_alpha))
    outputs = _two_branch_stages(features, stages, num_pafs, num_heatmaps,
                                 _separable_branch(width, 4 * width))
    return finish_model("openpose_mobilenet_v2", inputs, outputs, layout=layout, stride=8,
                        params=dict(layout=layout.name, alpha=alpha, head_alpha=head_alpha, stages=stages),
                        input_size=input_size, fixed_input_size=fixed_input_size, normalisation=norm,
                        codec=_paf_meta(num_heatmaps), init_weights=init_weights)
