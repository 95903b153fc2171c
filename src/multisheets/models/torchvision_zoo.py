"""Architectures of torchvision's model zoo, built for the study's image size and for deterministic GPU training.

Each builder takes ``(num_classes, image_size)``, image_size being the images' (height, width), and keeps
torchvision's model object, changing only modules that must change, so its parameter names (and, at large images,
every shape) are torchvision's and an ImageNet state_dict matches it name for name. Two kinds of change:

* Small images. torchvision's networks downsample 32x before their global pool (ViT: 16x16 patches), which leaves
  a 32 px image 1x1 positions (ViT: 2x2 tokens). Images whose shorter side is below `SMALL_IMAGE_SIDE` get the
  small-image variant: the convolutional networks downsample 8x (a 32 px image ends at 4x4; VGG, whose only
  downsampling is its max-pools, 16x, ending at 2x2), ViTs take 4x4 patches. At `SMALL_IMAGE_SIDE` and above the
  network is torchvision's own, so ImageNet weights load whole (ViT's position embedding only at 224 px).
* Pools. torchvision pools with AdaptiveAvgPool2d, whose CUDA backward kernel is not deterministic, so that
  `deterministic: true` refuses it. (To a 1x1 output ATen computes it as a mean instead, whose backward is
  deterministic; VGG's 7x7 pool runs the kernel.) Every adaptive pool becomes `GlobalPool` or `AdaptiveAvgPool`,
  which compute the same, so `runtime.deterministic: true` works with every model and says so in its modules;
  tests/test_torchvision_zoo.py traces every op of each network to check it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torchvision.models as tv
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

from multisheets.models.zoo import GlobalPool

SMALL_IMAGE_SIDE = 64  # below it, the small-image variant (see the module's docstring)


def is_small(image_size: Sequence[int]) -> bool:
    return min(image_size) < SMALL_IMAGE_SIDE


class AdaptiveAvgPool(nn.Module):
    """AdaptiveAvgPool2d(output_size) as two matrix products, whose backward is deterministic on GPUs.

    Output row i averages input rows floor(i*H/O) .. ceil((i+1)*H/O) - 1, as AdaptiveAvgPool2d's do (columns
    likewise), so it is the same function; the matrices depend only on the shapes.
    """

    def __init__(self, output_size: int | Sequence[int]):
        super().__init__()
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = _bin_means(x.shape[2], self.output_size[0], x)
        columns = _bin_means(x.shape[3], self.output_size[1], x)
        return rows @ x @ columns.T


def _bin_means(size: int, bins: int, like: torch.Tensor) -> torch.Tensor:
    """(bins, size): row i holds 1/len over the positions that AdaptiveAvgPool2d's bin i averages."""
    index = torch.arange(bins, device=like.device)
    start, end = (index * size) // bins, ((index + 1) * size + bins - 1) // bins
    position = torch.arange(size, device=like.device)
    inside = (position >= start[:, None]) & (position < end[:, None])
    return inside.to(like.dtype) / (end - start)[:, None].to(like.dtype)


def deterministic_pools(model: nn.Module) -> nn.Module:
    """Replace every AdaptiveAvgPool2d of `model` in place: a global one by `GlobalPool("mean")`, others by
    `AdaptiveAvgPool` (same output). Neither has parameters, so the state_dict's names do not change."""
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.AdaptiveAvgPool2d):
            size = module.output_size
            size = (size, size) if isinstance(size, int) else tuple(size)
            replacement = GlobalPool("mean") if size == (1, 1) else AdaptiveAvgPool(size)
            parent, _, attribute = name.rpartition(".")
            setattr(model.get_submodule(parent), attribute, replacement)
    return model


def unstride(model: nn.Module, count: int) -> None:
    """Give the first `count` stride-2 convolutions of `model` stride 1 (their padding keeps the size), each
    dividing the network's downsampling by 2. Module order is the order of the forward pass in the Sequential
    networks it is used on, so these are the stem and the first downsampling block."""
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    for convolution in convolutions[:count]:
        convolution.stride = (1, 1)


def named_sequential(**parts: nn.Module) -> nn.Sequential:
    """A Sequential whose children keep the names they had as attributes (so their parameters keep theirs)."""
    return nn.Sequential(OrderedDict(parts))


def resnet(factory: Callable[..., nn.Module], num_classes: int, image_size: Sequence[int]) -> nn.Module:
    """Small images: a 3x3 stride-1 `conv1` and no max-pool, as our `resnet18` (the CIFAR ResNet of He et al.)."""
    model = factory(num_classes=num_classes)
    if is_small(image_size):
        model.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")  # torchvision's init
        model.maxpool = nn.Identity()
    return deterministic_pools(model)


def vgg(factory: Callable[..., nn.Module], num_classes: int, image_size: Sequence[int]) -> nn.Module:
    """Small images: no fifth max-pool (a 28 px image would pool to 0x0), a global mean pool instead of the 7x7
    adaptive pool, and a 512-512-classes classifier in place of 25088-4096-4096-classes: at 32 px the 7x7 pool
    would copy one position 49 times into a 120 M-parameter head."""
    model = factory(num_classes=num_classes)
    if is_small(image_size):
        model.features[-1] = nn.Identity()  # the last max-pool (an Identity keeps the other layers' indices)
        model.avgpool = GlobalPool("mean")
        model.classifier = nn.Sequential(
            nn.Linear(512, 512),
            nn.ReLU(True),
            nn.Dropout(0.5),
            nn.Linear(512, 512),
            nn.ReLU(True),
            nn.Dropout(0.5),
            nn.Linear(512, num_classes),
        )
        for linear in model.classifier[::3]:
            nn.init.normal_(linear.weight, 0, 0.01)  # torchvision's init
            nn.init.zeros_(linear.bias)
    return deterministic_pools(model)


def densenet121(num_classes: int, image_size: Sequence[int]) -> nn.Module:
    """Small images: a 3x3 stride-1 `conv0` and no `pool0`. The forward pass pools with a functional call,
    so the network is rebuilt as a Sequential of torchvision's `features` and `classifier` around a GlobalPool."""
    model = tv.densenet121(num_classes=num_classes)
    if is_small(image_size):
        model.features.conv0 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        nn.init.kaiming_normal_(model.features.conv0.weight)  # torchvision's init
        model.features.pool0 = nn.Identity()
    return named_sequential(
        features=model.features,
        relu=nn.ReLU(inplace=True),
        pool=GlobalPool("mean"),
        flatten=nn.Flatten(),
        classifier=model.classifier,
    )


def mobilenet_v2(num_classes: int, image_size: Sequence[int]) -> nn.Module:
    """Small images: the stem and the first stride-2 block get stride 1. Its forward pass pools with a
    functional call, so it is rebuilt as a Sequential of torchvision's `features` and `classifier`."""
    model = tv.mobilenet_v2(num_classes=num_classes)
    if is_small(image_size):
        unstride(model.features, 2)
    return named_sequential(
        features=model.features, pool=GlobalPool("mean"), flatten=nn.Flatten(), classifier=model.classifier
    )


def strided_stem(factory: Callable[..., nn.Module], num_classes: int, image_size: Sequence[int]) -> nn.Module:
    """MobileNetV3 and EfficientNet. Small images: the stem and the first stride-2 block get stride 1; no shape
    changes, so ImageNet weights load whole at any size. Their squeeze-excitation pools become GlobalPools."""
    model = factory(num_classes=num_classes)
    if is_small(image_size):
        unstride(model.features, 2)
    return deterministic_pools(model)


def convnext_tiny(num_classes: int, image_size: Sequence[int]) -> nn.Module:
    """Small images: a 3x3 stride-1 stem convolution instead of the 4x4 stride-4 patchify."""
    model = tv.convnext_tiny(num_classes=num_classes)
    if is_small(image_size):
        stem = model.features[0][0] = nn.Conv2d(3, 96, 3, padding=1)
        nn.init.trunc_normal_(stem.weight, std=0.02)  # torchvision's init
        nn.init.zeros_(stem.bias)
    return deterministic_pools(model)


def vit(
    num_classes: int, image_size: Sequence[int], num_layers: int, num_heads: int, hidden_dim: int, mlp_dim: int
) -> nn.Module:
    """torchvision's VisionTransformer with 16x16 patches, 4x4 on small images (a 32 px image: 8x8 tokens).
    Its position embedding has one entry per token, so it is built for the one image size and needs square
    images whose side the patch divides."""
    patch = 4 if is_small(image_size) else 16
    height, width = image_size
    if height != width or height % patch:
        raise ValueError(
            f"a ViT needs square images whose side is a multiple of its {patch}x{patch} patches; these are "
            f"{height}x{width}"
        )
    return VisionTransformer(height, patch, num_layers, num_heads, hidden_dim, mlp_dim, num_classes=num_classes)


resnet34 = partial(resnet, tv.resnet34)
resnet50 = partial(resnet, tv.resnet50)
wide_resnet50_2 = partial(resnet, tv.wide_resnet50_2)
vgg11_bn = partial(vgg, tv.vgg11_bn)
vgg16_bn = partial(vgg, tv.vgg16_bn)
mobilenet_v3_small = partial(strided_stem, tv.mobilenet_v3_small)
mobilenet_v3_large = partial(strided_stem, tv.mobilenet_v3_large)
efficientnet_b0 = partial(strided_stem, tv.efficientnet_b0)
vit_b_16 = partial(vit, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072)  # torchvision's ViT-B/16
vit_ti_16 = partial(vit, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768)  # ViT-Ti (DeiT-Tiny's sizes)
