"""Lightweight OpenPose in PyTorch, written for the converter parity test from the published architecture
facts (Osokin 2018: MobileNetV1 to stride 8 with a dilated conv4_2..conv5_5, CPM, an initial stage and
refinement stages of residual blocks) and the published state_dict key layout. Only the parameter names
and the forward computation matter: tests build it with random weights, save a real .pth and compare
pose_core's converted Keras model against it.
"""
from __future__ import annotations

import torch
from torch import nn


def conv(cin, cout, kernel=3, padding=1, bn=True, dilation=1, stride=1, relu=True, bias=True):
    parts = [nn.Conv2d(cin, cout, kernel, stride, padding, dilation, bias=bias)]
    if bn:
        parts.append(nn.BatchNorm2d(cout))
    if relu:
        parts.append(nn.ReLU(inplace=True))
    return nn.Sequential(*parts)


def conv_dw(cin, cout, kernel=3, padding=1, stride=1, dilation=1):
    return nn.Sequential(
        nn.Conv2d(cin, cin, kernel, stride, padding, dilation=dilation, groups=cin, bias=False),
        nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def conv_dw_no_bn(cin, cout, kernel=3, padding=1, stride=1, dilation=1):
    return nn.Sequential(
        nn.Conv2d(cin, cin, kernel, stride, padding, dilation=dilation, groups=cin, bias=False),
        nn.ELU(inplace=True),
        nn.Conv2d(cin, cout, 1, 1, 0, bias=False), nn.ELU(inplace=True))


class Cpm(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.align = conv(cin, cout, kernel=1, padding=0, bn=False)
        self.trunk = nn.Sequential(conv_dw_no_bn(cout, cout), conv_dw_no_bn(cout, cout),
                                   conv_dw_no_bn(cout, cout))
        self.conv = conv(cout, cout, bn=False)

    def forward(self, x):
        x = self.align(x)
        return self.conv(x + self.trunk(x))


def _head(cin, mid, cout):
    return nn.Sequential(conv(cin, mid, kernel=1, padding=0, bn=False),
                         conv(mid, cout, kernel=1, padding=0, bn=False, relu=False))


class InitialStage(nn.Module):
    def __init__(self, channels, num_heatmaps, num_pafs):
        super().__init__()
        self.trunk = nn.Sequential(*(conv(channels, channels, bn=False) for _ in range(3)))
        self.heatmaps = _head(channels, 512, num_heatmaps)
        self.pafs = _head(channels, 512, num_pafs)

    def forward(self, x):
        t = self.trunk(x)
        return [self.heatmaps(t), self.pafs(t)]


class RefinementStageBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.initial = conv(cin, cout, kernel=1, padding=0, bn=False)
        self.trunk = nn.Sequential(conv(cout, cout), conv(cout, cout, dilation=2, padding=2))

    def forward(self, x):
        x = self.initial(x)
        return x + self.trunk(x)


class RefinementStage(nn.Module):
    def __init__(self, cin, cout, num_heatmaps, num_pafs):
        super().__init__()
        self.trunk = nn.Sequential(RefinementStageBlock(cin, cout),
                                   *(RefinementStageBlock(cout, cout) for _ in range(4)))
        self.heatmaps = _head(cout, cout, num_heatmaps)
        self.pafs = _head(cout, cout, num_pafs)

    def forward(self, x):
        t = self.trunk(x)
        return [self.heatmaps(t), self.pafs(t)]


class LightweightOpenPose(nn.Module):
    """forward(x normalised BGR (x-128)/256, NCHW) -> [heatmaps1, pafs1, heatmaps2, pafs2, ...]."""

    def __init__(self, num_refinement_stages=1, num_channels=128, num_heatmaps=19, num_pafs=38):
        super().__init__()
        self.model = nn.Sequential(
            conv(3, 32, stride=2, bias=False),
            conv_dw(32, 64), conv_dw(64, 128, stride=2), conv_dw(128, 128),
            conv_dw(128, 256, stride=2), conv_dw(256, 256), conv_dw(256, 512),
            conv_dw(512, 512, dilation=2, padding=2),
            conv_dw(512, 512), conv_dw(512, 512), conv_dw(512, 512), conv_dw(512, 512))
        self.cpm = Cpm(512, num_channels)
        self.initial_stage = InitialStage(num_channels, num_heatmaps, num_pafs)
        self.refinement_stages = nn.ModuleList(
            RefinementStage(num_channels + num_heatmaps + num_pafs, num_channels, num_heatmaps, num_pafs)
            for _ in range(num_refinement_stages))

    def forward(self, x):
        features = self.cpm(self.model(x))
        outputs = self.initial_stage(features)
        for stage in self.refinement_stages:
            outputs.extend(stage(torch.cat([features, outputs[-2], outputs[-1]], dim=1)))
        return outputs


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights AND batch-norm statistics (fresh BNs have mean 0 / var 1, which would hide a
    mapping mistake between running_mean/var and gamma/beta)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if not p.is_floating_point():
                continue
            if name.endswith("running_var"):
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.75)
            elif name.endswith(("running_mean", "bias")):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            elif p.dim() == 1:                       # BN gamma
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.75)
            else:            # conv kernels: std 1/sqrt(fan_in) keeps every stage's maps O(1) like real ones
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) * (1.0 / fan_in) ** 0.5)
    return model.eval()
