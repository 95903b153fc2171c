"""Model zoo. Every model takes images in pixel space, float in [0, 1], NCHW, and returns logits.

Normalisation lives inside the model (`Classifier`), so attacks and corruptions work in pixel space and a
saved model needs nothing else to be evaluated.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn


def conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


def resnet18(num_classes: int, width: int = 64) -> nn.Module:
    """CIFAR ResNet-18: a 3x3 stride-1 stem and no max-pool, since 32x32 inputs cannot afford the ImageNet stem's 4x
    downsampling."""
    layers: list[nn.Module] = [conv_bn(3, width)]
    c_in = width
    for stage, c_out in enumerate((width, 2 * width, 4 * width, 8 * width)):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(BasicBlock(c_in, c_out, stride))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
    return nn.Sequential(*layers)


def small_cnn(num_classes: int, width: int = 32) -> nn.Module:
    """Three conv-BN-ReLU-pool stages: trains in seconds per epoch on a CPU, for tests and smoke studies."""
    return nn.Sequential(
        conv_bn(3, width),
        nn.MaxPool2d(2),
        conv_bn(width, 2 * width),
        nn.MaxPool2d(2),
        conv_bn(2 * width, 4 * width),
        nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * width, num_classes),
    )


# name -> (constructor, default width)
MODELS: dict[str, tuple[Callable[..., nn.Module], int]] = {
    "resnet18": (resnet18, 64),
    "cnn": (small_cnn, 32),
}


class Classifier(nn.Module):
    """Normalise pixel-space inputs with the training split's statistics, then apply the backbone."""

    def __init__(self, backbone: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone((images - self.mean) / self.std)


def build_model(name: str, num_classes: int, mean: Sequence[float], std: Sequence[float], width: int | None = None):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (known: {sorted(MODELS)})")
    constructor, default_width = MODELS[name]
    return Classifier(constructor(num_classes, width or default_width), mean, std)
