"""Architectures by name (the hyperparameter `model`): which function builds each backbone, and its default width.

Torch-free, so the workflow can check a study's models while it plans: the builders live in `zoo` (our own nets),
`torchvision_zoo` (torchvision's) or any module, and are imported only where a model is built. A builder returns an
``nn.Module`` from normalised NCHW images to logits; `zoo.build_model` wraps it with the normalisation and test-time
augmentation every model shares. Keep to modules with a deterministic CUDA backward (no adaptive pooling, no
reflection padding: see `zoo.GlobalPool`), so `runtime.deterministic: true` works with every model. A new
architecture is one entry here and its builder.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    """A builder and what it takes: ``(num_classes, width)`` for a net with a base width, ``(num_classes,
    image_size)`` for one whose widths are fixed and whose layers depend on the images' (height, width)."""

    build: str  # "module:function" of its builder
    width: int | None  # the base width when a run leaves `width` at null; None: fixed widths, `width` must be null
    sized: bool = False  # the builder takes the images' (height, width) as `image_size`


TORCHVISION = "multisheets.models.torchvision_zoo"

ARCHITECTURES: dict[str, Architecture] = {
    "resnet18": Architecture("multisheets.models.zoo:resnet18", 64),
    "cnn": Architecture("multisheets.models.zoo:small_cnn", 32),
    "fastnet": Architecture("multisheets.models.zoo:fastnet", 64),
    # torchvision's, with a small-image variant below 64 px (see torchvision_zoo)
    **{
        name: Architecture(f"{TORCHVISION}:{name}", None, sized=True)
        for name in (
            *("resnet34", "resnet50", "wide_resnet50_2", "vgg11_bn", "vgg16_bn", "densenet121"),
            *("mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny"),
            *("vit_b_16", "vit_ti_16"),
        )
    },
}


def fixed_width(name: str) -> bool:
    """Whether `name`'s widths are its own (torchvision's), so that a run must leave `width` at null."""
    return ARCHITECTURES[name].width is None
