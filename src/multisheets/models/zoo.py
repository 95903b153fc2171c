"""Model zoo. Every model takes images in pixel space, float in [0, 1], NCHW, and returns logits.

Normalisation lives inside the model (`Classifier`), so attacks and corruptions work in pixel space and a
saved model needs nothing else to be evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from multisheets.infra.lazy import resolve
from multisheets.models.architectures import ARCHITECTURES
from multisheets.study.recipes import BATCH_NORM_EPS, BATCH_NORM_MOMENTUM, HEAD_SCALE, WHITENING_EPS


class GlobalPool(nn.Module):
    """Average or max over all positions, keeping (N, C, 1, 1). Same as AdaptiveAvg/MaxPool2d(1), but with a
    deterministic CUDA backward: AdaptiveMaxPool2d's has none, and with `deterministic: true` it would stop a GPU
    run. (AdaptiveAvgPool2d(1) happens to run as a mean, ATen's special case of a 1x1 output; at any other output
    size its backward has no deterministic kernel either: see `torchvision_zoo.AdaptiveAvgPool`.)

    The max is a max-pool over the whole map rather than `amax`: under torch.compile with bf16 autocast,
    inductor's `amax` backward compares the input, recomputed in fp32, with the maximum stored in bf16, finds no
    position equal and divides by that count of zero, so every gradient below the pool is NaN (the fast preset
    diverged at its first step on an H200; pytorch/pytorch#186799). Max-pool's backward routes the gradient
    through the saved index instead.
    """

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3), keepdim=True) if self.kind == "mean" else F.max_pool2d(x, x.shape[2:])


def reflect_pad1(x: torch.Tensor) -> torch.Tensor:
    """Reflect-pad H and W by one pixel with slices and concatenation, whose backward is deterministic on GPUs
    (reflection_pad2d's is not), since attacks differentiate through test-time augmentation."""
    x = torch.cat([x[:, :, 1:2], x, x[:, :, -2:-1]], dim=2)
    return torch.cat([x[:, :, :, 1:2], x, x[:, :, :, -2:-1]], dim=3)


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
    layers += [GlobalPool("mean"), nn.Flatten(), nn.Linear(c_in, num_classes)]
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
        GlobalPool("mean"),
        nn.Flatten(),
        nn.Linear(4 * width, num_classes),
    )


class Whitening(nn.Conv2d):
    """2x2 patch-whitening stem: fixed filters set from the training data (`init_whitening`), a trainable bias.

    Each of the 12 eigenvectors of the 2x2x3 patch covariance appears with both signs, so the GELU after it
    passes every direction. Until `init_whitening` runs the filters are random, as any conv's are.
    """

    def __init__(self, kernel_size: int = 2):
        super().__init__(3, 2 * 3 * kernel_size**2, kernel_size, bias=True)
        self.weight.requires_grad_(False)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.zeros_(self.bias)  # the whitened features start centred; the bias learns any shift


class FrozenScaleBatchNorm(nn.BatchNorm2d):
    """Batch norm whose scale stays 1 (only the shift learns); fast-moving statistics for short runs."""

    def __init__(self, channels: int):
        super().__init__(channels, eps=BATCH_NORM_EPS, momentum=BATCH_NORM_MOMENTUM)
        self.weight.requires_grad_(False)


class IdentityInitConv(nn.Conv2d):
    """3x3 'same' conv whose first c_in filters start as the identity (Dirac), so a fresh deep stack without
    residual connections still passes its input through."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, 3, padding="same", bias=False)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            nn.init.dirac_(self.weight[: min(self.in_channels, self.out_channels)])


def conv_group(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        IdentityInitConv(c_in, c_out),
        nn.MaxPool2d(2),
        FrozenScaleBatchNorm(c_out),
        nn.GELU(),
        IdentityInitConv(c_out, c_out),
        FrozenScaleBatchNorm(c_out),
        nn.GELU(),
    )


class Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def fastnet(num_classes: int, width: int = 64) -> nn.Module:
    """Residual-free conv net after airbench94 (Jordan, 2024): whitening stem, three conv groups of widths
    (w, 4w, 4w) that each halve the resolution, global max-pool, a bias-free linear head scaled by 1/9.

    ~2 M parameters at w = 64; built for ~10-epoch runs with `recipe: fast` (see `multisheets.optim`).
    """
    stem = Whitening()
    return nn.Sequential(
        stem,
        nn.GELU(),
        conv_group(stem.out_channels, width),
        conv_group(width, 4 * width),
        conv_group(4 * width, 4 * width),
        GlobalPool("max"),
        nn.Flatten(),
        nn.Linear(4 * width, num_classes, bias=False),
        Scale(HEAD_SCALE),
    )


@torch.no_grad()
def init_whitening(model: nn.Module, images: torch.Tensor, eps: float = WHITENING_EPS) -> None:
    """Set every `Whitening` stem of `model` (a `Classifier`) from training images, uint8 NCHW.

    The filters project 2x2 patches of the *normalised* images (what the stem sees) onto the eigenvectors of
    their second-moment matrix, scaled by 1/sqrt(eigenvalue + eps): whitened, decorrelated features from the
    first step, which is much of why the fast recipe converges in a few epochs. No-op without a stem.
    """
    for stem in (m for m in model.modules() if isinstance(m, Whitening)):
        x = (images.float().div(255) - model.mean) / model.std
        k = stem.kernel_size[0]
        patches = x.unfold(2, k, 1).unfold(3, k, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3 * k * k)
        second_moment = (patches.T @ patches / len(patches)).double()
        eigenvalues, eigenvectors = torch.linalg.eigh(second_moment)  # ascending
        filters = (eigenvectors.T / (eigenvalues[:, None] + eps).sqrt()).flip(0).reshape(-1, 3, k, k)
        stem.weight.copy_(torch.cat([filters, -filters]).to(stem.weight))


TEST_TIME_AUGMENTATIONS = ("none", "flip", "flip_translate")


class Classifier(nn.Module):
    """Normalise pixel-space inputs with the training split's statistics, then apply the backbone.

    In eval mode, `tta` averages the logits over views of each image: ``flip`` over the image and its mirror;
    ``flip_translate`` (airbench94's level 2) gives that pair weight 1/2 and the mirrored pairs of the image
    shifted by one pixel up-left and down-right 1/4 each. Being part of `forward`, it is what every
    intervention measures, attacks included: they differentiate through the averaged views.
    """

    def __init__(self, backbone: nn.Module, mean: Sequence[float], std: Sequence[float], tta: str = "none"):
        super().__init__()
        if tta not in TEST_TIME_AUGMENTATIONS:
            raise ValueError(f"unknown tta {tta!r} (known: {', '.join(TEST_TIME_AUGMENTATIONS)})")
        self.backbone, self.tta = backbone, tta
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.training or self.tta == "none":
            return self.backbone((images - self.mean) / self.std)
        views = [images]
        if self.tta == "flip_translate":
            height, width = images.shape[2:]
            padded = reflect_pad1(images)
            views += [padded[:, :, :height, :width], padded[:, :, 2:, 2:]]
        views += [view.flip(3) for view in views]  # one forward pass over every view: larger, faster kernels
        logits = self.backbone((torch.cat(views) - self.mean) / self.std).unflatten(0, (len(views), len(images)))
        if self.tta == "flip":
            return logits.mean(0)
        weights = logits.new_tensor([2, 1, 1, 2, 1, 1]) / 8  # (x, up-left, down-right, then their mirrors)
        return (logits * weights[:, None, None]).sum(0)


def build_model(
    name: str,
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    width: int | None = None,
    tta: str = "none",
    image_size: Sequence[int] | None = None,
) -> Classifier:
    """The registered architecture `name` (`architectures`) behind the normalisation and test-time augmentation.

    `image_size`, the images' (height, width), is what a sized architecture's layers depend on (torchvision's:
    see `torchvision_zoo`); the others take a `width` instead and ignore it.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r} (known: {', '.join(ARCHITECTURES)})")
    architecture = ARCHITECTURES[name]
    builder = resolve(architecture.build)
    if architecture.width is None and width is not None:
        raise ValueError(f"model {name!r} has fixed widths (torchvision's): width must be null, not {width}")
    if not architecture.sized:
        return Classifier(builder(num_classes, width or architecture.width), mean, std, tta)
    if image_size is None:
        raise ValueError(f"model {name!r} depends on the image size: give build_model its image_size")
    return Classifier(builder(num_classes, tuple(image_size)), mean, std, tta)
