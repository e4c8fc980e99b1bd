"""PyTorch twins of the time-series templates (FCN, ResNet, InceptionTime), for recipes and timings.

Used only by the benchmarks (and by hand to try training recipes, see ``recipe_torch.py``); the
package never imports torch. The architectures follow the deep time-series review (Ismail Fawaz
et al. 2019, repository hfawaz/dl-4-tsc, ``classifiers/fcn.py`` and ``classifiers/resnet.py``)
and InceptionTime (hfawaz/InceptionTime, ``classifiers/inception.py``), with a ``width`` factor to
size them for a 2-core CPU. Padding 'same' splits like the NumPy engine (and Keras): the extra
column of an even kernel goes on the right. Shapes: input (N, C, L), output logits (N, classes).
"""

from __future__ import annotations

import torch
from torch import nn


def same_conv(c_in: int, c_out: int, kernel: int, bias: bool = True) -> nn.Module:
    """Conv1d with 'same' output length; for an even kernel the extra pad goes right."""
    left, right = (kernel - 1) // 2, kernel // 2
    conv = nn.Conv1d(c_in, c_out, kernel, padding=left if left == right else 0, bias=bias)
    if left == right:
        return conv
    return nn.Sequential(nn.ConstantPad1d((left, right), 0.0), conv)


def conv_bn_relu(c_in: int, c_out: int, kernel: int, relu: bool = True) -> list[nn.Module]:
    mods = [same_conv(c_in, c_out, kernel), nn.BatchNorm1d(c_out)]
    return [*mods, nn.ReLU()] if relu else mods


class Head(nn.Module):
    """Global average pooling over time, then a dense layer to the class logits."""

    def __init__(self, channels: int, n_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(dim=2))


def fcn(c_in: int, n_classes: int, width: float = 1.0) -> nn.Module:
    """FCN (Wang et al. 2017): conv 128 k8, 256 k5, 128 k3, each batchnorm + relu; GAP; dense."""
    c1, c2 = round(128 * width), round(256 * width)
    return nn.Sequential(
        *conv_bn_relu(c_in, c1, 8),
        *conv_bn_relu(c1, c2, 5),
        *conv_bn_relu(c2, c1, 3),
        Head(c1, n_classes),
    )


class ResidualBlock(nn.Module):
    """Convs k8, k5, k3 (batchnorm, relu except the last) + shortcut (1x1 conv + BN if needed)."""

    def __init__(self, c_in: int, c_out: int, kernels: tuple[int, ...] = (8, 5, 3)) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        for i, k in enumerate(kernels):
            mods += conv_bn_relu(c_in if i == 0 else c_out, c_out, k, relu=i < len(kernels) - 1)
        self.body = nn.Sequential(*mods)
        self.shortcut = (
            nn.Identity()
            if c_in == c_out
            else nn.Sequential(nn.Conv1d(c_in, c_out, 1), nn.BatchNorm1d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet(c_in: int, n_classes: int, width: float = 1.0) -> nn.Module:
    """ResNet of the review: 3 residual blocks of 64/128/128 channels (x width); GAP; dense.

    The review's third block has a batchnorm-only shortcut; here an identity (same shapes), as
    the config's residual block does.
    """
    c1, c2 = round(64 * width), round(128 * width)
    return nn.Sequential(
        ResidualBlock(c_in, c1), ResidualBlock(c1, c2), ResidualBlock(c2, c2), Head(c2, n_classes)
    )


class InceptionModule(nn.Module):
    """Bottleneck 1x1, then parallel convs of kernels ``kernels`` and maxpool3 -> 1x1; concat."""

    def __init__(self, c_in: int, filters: int, kernels: tuple[int, ...], bottleneck: int) -> None:
        super().__init__()
        self.bottleneck = nn.Conv1d(c_in, bottleneck, 1, bias=False) if c_in > 1 else nn.Identity()
        width = bottleneck if c_in > 1 else c_in
        self.convs = nn.ModuleList(same_conv(width, filters, k, bias=False) for k in kernels)
        self.pool = nn.MaxPool1d(3, stride=1, padding=1)
        self.pool_conv = nn.Conv1d(c_in, filters, 1, bias=False)
        self.bn = nn.BatchNorm1d(filters * (len(kernels) + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.bottleneck(x)
        outs = [conv(z) for conv in self.convs] + [self.pool_conv(self.pool(x))]
        return torch.relu(self.bn(torch.cat(outs, dim=1)))


class InceptionNet(nn.Module):
    """InceptionTime's network: ``depth`` modules, a residual shortcut around every three."""

    def __init__(
        self,
        c_in: int,
        n_classes: int,
        filters: int = 32,
        depth: int = 6,
        kernels: tuple[int, ...] = (39, 19, 9),
        bottleneck: int = 32,
    ) -> None:
        super().__init__()
        out = filters * (len(kernels) + 1)
        self.modules_ = nn.ModuleList(
            InceptionModule(c_in if d == 0 else out, filters, kernels, bottleneck)
            for d in range(depth)
        )
        self.shortcuts = nn.ModuleList(
            nn.Sequential(nn.Conv1d(c_in if d == 0 else out, out, 1), nn.BatchNorm1d(out))
            for d in range(depth // 3)
        )
        self.head = Head(out, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = x
        for d, module in enumerate(self.modules_):
            x = module(x)
            if d % 3 == 2:
                x = torch.relu(x + self.shortcuts[d // 3](res))
                res = x
        return self.head(x)


def inception(c_in: int, n_classes: int, width: float = 1.0, depth: int = 6) -> nn.Module:
    filters = round(32 * width)
    return InceptionNet(c_in, n_classes, filters=filters, depth=depth, bottleneck=filters)


ARCHITECTURES = {"fcn": fcn, "resnet": resnet, "inception": inception}
