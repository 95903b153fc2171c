"""Architectures by name (the hyperparameter `model`): which function builds each backbone, and its default width.

Torch-free, so the workflow can check a study's models while it plans: the builders live in `zoo` (or any module)
and are imported only where a model is built. A builder takes ``(num_classes, width)`` and returns an ``nn.Module``
from normalised NCHW images to logits; `zoo.build_model` wraps it with the normalisation and test-time
augmentation every model shares. Keep to modules with a deterministic CUDA backward (no adaptive pooling, no
reflection padding: see `zoo.GlobalPool`), so `runtime.deterministic: true` works with every model. A new
architecture is one entry here and its builder.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    build: str  # "module:function" of its builder, (num_classes, width) -> nn.Module
    width: int  # the base width when a run leaves `width` at null


ARCHITECTURES: dict[str, Architecture] = {
    "resnet18": Architecture("multisheets.models.zoo:resnet18", 64),
    "cnn": Architecture("multisheets.models.zoo:small_cnn", 32),
    "fastnet": Architecture("multisheets.models.zoo:fastnet", 64),
}
