"""Optimizers and learning-rate schedules, selected by name from a run's hyperparameters."""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "onecycle", "step", "constant")


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
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r} (known: {', '.join(SCHEDULES)})")
    warmup_steps = min(warmup_steps, total_steps - 1) if total_steps > 1 else 0

    def factor(step: int) -> float:
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
