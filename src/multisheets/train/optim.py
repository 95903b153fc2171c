"""Optimizers and learning-rate schedules, selected by name from a run's hyperparameters."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from multisheets.models.zoo import Whitening
from multisheets.study.recipes import (
    LOOKAHEAD_DECAY,
    LOOKAHEAD_EVERY,
    NORM_BIAS_LR_SCALE,
    RECIPES,
    WHITENING_BIAS_EPOCHS,
)

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "onecycle", "step", "constant", "triangle")


def parameter_groups(module: nn.Module, hp: dict[str, Any]) -> list[dict[str, Any]]:
    """The trainable parameters as optimizer groups, each named (``name``) for its learning-rate schedule.

    ``standard``: one group. ``fast``: batch-norm shifts (``norm_bias``) at `NORM_BIAS_LR_SCALE` x the learning
    rate and weight decay / that scale (the same decay per step), the whitening stem's bias
    (``whitening_bias``; frozen after `WHITENING_BIAS_EPOCHS` by `group_lr_factors`), and the rest (``other``).
    The group that follows `lr` itself always comes last.
    """
    recipe = hp["recipe"]
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r} (known: {', '.join(RECIPES)})")
    trainable = {id(p): p for p in module.parameters() if p.requires_grad}
    if recipe == "standard":
        return [{"name": "all", "params": list(trainable.values())}]
    norm_bias = [m.bias for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine]
    whitening_bias = [m.bias for m in module.modules() if isinstance(m, Whitening)]
    special = {id(p) for p in norm_bias + whitening_bias}
    groups = [
        {
            "name": "norm_bias",
            "params": [p for p in norm_bias if p.requires_grad],
            "lr": hp["lr"] * NORM_BIAS_LR_SCALE,
            "weight_decay": hp["weight_decay"] / NORM_BIAS_LR_SCALE,
        },
        {"name": "whitening_bias", "params": [p for p in whitening_bias if p.requires_grad]},
        {"name": "other", "params": [p for key, p in trainable.items() if key not in special]},
    ]
    return [group for group in groups if group["params"]]


def group_lr_factors(groups: list[dict[str, Any]], factor: Callable[[int], float], steps_per_epoch: int):
    """One schedule per group (LambdaLR's list form): the whitening bias stops learning after its epochs."""
    frozen_from = WHITENING_BIAS_EPOCHS * steps_per_epoch

    def whitening(step: int) -> float:
        return factor(step) if step < frozen_from else 0.0

    return [whitening if group["name"] == "whitening_bias" else factor for group in groups]


class Lookahead:
    """Every `LOOKAHEAD_EVERY` steps, move a running average of the weights (and batch-norm statistics) towards
    the current ones and put the model back on it; the average's decay falls off as (step/total)^3, so the
    pull is weak early and strong at the end, and the final model is the average (`finish`)."""

    def __init__(self, module: nn.Module, total_steps: int):
        self.total_steps = total_steps
        self.tensors = [t for t in module.state_dict().values() if t.is_floating_point()]
        self.average = [t.detach().clone() for t in self.tensors]

    @torch.no_grad()
    def step(self, step: int) -> None:
        """Call after optimizer step number `step` (counting from 1)."""
        if step % LOOKAHEAD_EVERY == 0:
            self._pull(LOOKAHEAD_DECAY * (step / self.total_steps) ** 3)

    @torch.no_grad()
    def finish(self) -> None:
        self._pull(1.0)

    def _pull(self, decay: float) -> None:
        torch._foreach_lerp_(self.average, self.tensors, 1 - decay)
        torch._foreach_copy_(self.tensors, self.average)


def build_optimizer(name: str, parameters, hp: dict[str, Any]) -> torch.optim.Optimizer:
    """Weight decay applies to every parameter (torchvision's reference default), so `weight_decay` means the same
    thing for every model."""
    if name == "sgd":
        return torch.optim.SGD(
            parameters,
            lr=hp["lr"],
            momentum=hp["momentum"],
            nesterov=bool(hp["nesterov"]) and hp["momentum"] > 0,
            weight_decay=hp["weight_decay"],
        )
    if name == "adam":
        # Adam's L2 penalty (coupled), as torch defines it; adamw decouples it.
        return torch.optim.Adam(parameters, lr=hp["lr"], weight_decay=hp["weight_decay"])
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=hp["lr"], weight_decay=hp["weight_decay"])
    raise ValueError(f"unknown optimizer {name!r} (known: {', '.join(OPTIMIZERS)})")


def lr_factor(name: str, total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Multiplier of the peak learning rate at each optimizer step (stepped once per batch).

    All schedules warm up linearly over `warmup_steps`; then `cosine` decays to 0 by the last step, `onecycle`
    decays linearly to 0, `step` divides by 10 at 50 % and 75 % of training, `constant` stays at the peak.
    `triangle` (airbench94's) warms up from 0.2x rather than from ~0 and decays linearly to 0.07x.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r} (known: {', '.join(SCHEDULES)})")
    warmup_steps = min(warmup_steps, total_steps - 1) if total_steps > 1 else 0

    def factor(step: int) -> float:
        if name == "triangle":
            if step < warmup_steps:
                return 0.2 + 0.8 * step / warmup_steps
            return 1 - 0.93 * (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        if name == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        if name == "onecycle":
            return 1 - progress
        if name == "step":
            return 0.1 ** ((progress >= 0.5) + (progress >= 0.75))
        return 1.0

    return factor
