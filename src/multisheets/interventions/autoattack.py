"""AutoAttack (Croce & Hein, ICML 2020), the attack RobustBench reports robust accuracy with, via torchattacks.

The ``standard`` version runs four attacks in turn, each on the examples every earlier one left correctly
classified: APGD on the cross-entropy loss, targeted APGD on the DLR loss (against each of the C-1 other classes
with the highest logits), targeted FAB (minimal perturbations), and the black-box Square attack (5,000 queries,
which catches gradient masking). An example counts as robust only if none of them fools the model, so its robust
accuracy is a lower (tighter) bound than one PGD run's, at many times the cost. ``plus`` adds restarts and the
untargeted APGD-DLR and FAB; ``rand`` (APGD-CE and APGD-DLR, each gradient averaged over 20 forward passes) is
meant for randomised defences, which our models are not.

torchattacks (3.5.1) differs from the reference implementation (fra31/auto-attack, the one RobustBench runs) in three
defaults: its APGD, APGD-T and FAB run 10 iterations where the reference runs 100; its targeted attacks target every
other class where the reference targets the 9 with the highest logits (the same with 10 classes, 11 times the work
with 100); and its Square attack rescales its schedule of square sizes to the query budget, which the reference
does not. We set the reference's values, so that ``autoattack_*`` measures what papers report as AutoAttack.

Conventions as in `attacks`: pixel space ``[0, 1]`` with the normalisation inside the model; eval mode, the
previous per-module training flags restored afterwards; parameters, buffers and parameter gradients untouched.
torchattacks is imported only here and only when an attack runs, so a study without AutoAttack never needs it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from multisheets.interventions.registry import AUTOATTACK_MIN_CLASSES, INSTALL_TORCHATTACKS
from multisheets.models.runtime import autocast, eval_mode

__all__ = ["autoattack", "VERSIONS"]

VERSIONS = ("standard", "plus", "rand")
REFERENCE_STEPS = 100  # iterations of APGD, APGD-T and FAB in the reference implementation
REFERENCE_TARGET_CLASSES = 9  # classes APGD-T and FAB-T target in the reference implementation (at most)
_NORMS = {"linf": "Linf", "l2": "L2"}


def import_torchattacks():
    try:
        import torchattacks
    except ImportError as error:
        message = f"AutoAttack runs torchattacks' implementation: install it with {INSTALL_TORCHATTACKS}"
        raise ImportError(message) from error
    return torchattacks


class _FloatLogits(nn.Module):
    """The model under the runtime's autocast (the numerics our PGD attacks too), returning float32 logits, which
    torchattacks' losses and its FAB projections expect."""

    def __init__(self, model: nn.Module, autocast_dtype: torch.dtype | None):
        super().__init__()
        self.model, self.autocast_dtype = model, autocast_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device.type, self.autocast_dtype):
            return self.model(x).float()


@contextlib.contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """No gradients into the parameters while torchattacks runs: FAB calls ``backward()``, which would otherwise
    accumulate them in ``.grad`` (and compute them for nothing)."""
    flags = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, requires_grad in flags:
            parameter.requires_grad_(requires_grad)


def reference_attack(model: nn.Module, norm: str, eps: float, version: str, n_classes: int, seed: int):
    """torchattacks' AutoAttack with the reference implementation's iterations, target classes and Square schedule."""
    torchattacks = import_torchattacks()
    attack = torchattacks.AutoAttack(
        model, norm=_NORMS[norm], eps=eps, version=version, n_classes=n_classes, seed=seed, verbose=False
    )
    attacks = getattr(getattr(attack, "_autoattack", None), "attacks", None)
    if not attacks:  # a torchattacks whose internals moved: refuse rather than run its 10-iteration defaults
        raise RuntimeError(f"torchattacks {torchattacks.__version__}: AutoAttack's attacks are not where 3.5 has them")
    for sub in attacks:
        if isinstance(sub, torchattacks.APGD | torchattacks.APGDT | torchattacks.FAB):
            sub.steps = REFERENCE_STEPS
        if isinstance(sub, torchattacks.APGDT | torchattacks.FAB):
            sub.n_target_classes = min(REFERENCE_TARGET_CLASSES, n_classes - 1)
        elif isinstance(sub, torchattacks.Square):
            sub.rescale_schedule = False
    return attack


def autoattack(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    norm: str,
    eps: float,
    version: str = "standard",
    seed: int = 0,
    autocast_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """AutoAttack's adversarial images in the L-inf or L2 ball of radius ``eps`` (pixel units), on the model's device.

    Reproducible for a fixed seed and batch: each of torchattacks' attacks seeds torch's global random generators
    with ``seed`` before it draws; the generators' previous state is restored afterwards, so nothing else in the
    process sees that seeding. Examples no attack fools come back unchanged. The result is projected onto the ball
    and ``[0, 1]``, which only removes float rounding of torchattacks' own projections.
    """
    if norm not in _NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid choices: {', '.join(_NORMS)}")
    if version not in VERSIONS:
        raise ValueError(f"unknown AutoAttack version {version!r}; valid choices: {', '.join(VERSIONS)}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if eps == 0:
        return images.detach().clone()
    x, y = images.detach().float(), labels.detach()
    with eval_mode(model), _frozen(model):
        # In eval mode: after a call on a module in train mode, torchattacks calls its train().
        logits = _FloatLogits(model, autocast_dtype).eval()
        with torch.no_grad():
            n_classes = logits(x[:1]).shape[1]
        if n_classes < AUTOATTACK_MIN_CLASSES:
            raise ValueError(
                f"AutoAttack needs at least {AUTOATTACK_MIN_CLASSES} classes (targeted APGD), not {n_classes}"
            )
        attack = reference_attack(logits, norm, eps, version, n_classes, seed)
        cuda = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            adv = attack(x, y).detach().float()
    delta = adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        norms = delta.flatten(1).norm(p=2, dim=1).clamp_min(1e-12)
        delta = delta * torch.clamp(eps / norms, max=1.0).view(-1, *([1] * (delta.dim() - 1)))
    return (x + delta).clamp(0.0, 1.0).to(images.dtype)
