"""White-box evasion attacks used for "accuracy under an adversarial intervention".

Conventions
-----------
* A model maps float images in pixel space ``[0, 1]`` (NCHW) to logits; any input normalisation lives
  inside the model.
* Attacks run the model in eval mode (the previous per-module training flags are restored afterwards),
  never modify parameters or buffers, and never accumulate parameter gradients: gradients are taken with
  :func:`torch.autograd.grad` w.r.t. the input only.
* Returned adversarial images lie in ``[0, 1]`` and inside the eps ball around the clean images (up to
  float rounding); they have the same shape, dtype and device as the input. The perturbation itself is
  always computed in float32, even when the forward/backward runs under autocast.
* The loss maximised is the summed per-example cross entropy (untargeted attack).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from multisheets.interventions.names import ATTACKS, AUTOATTACKS
from multisheets.models.runtime import autocast, eval_mode

__all__ = ["fgsm", "pgd", "robust_predictions", "NORMS", "ATTACKS"]

NORMS = ("linf", "l2")

# Smallest norm used when dividing by a per-example L2 norm (guards against zero gradients/perturbations).
_TINY = 1e-12


def _per_example(norms: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a (N,) tensor so it broadcasts against a (N, ...) tensor."""
    return norms.view(-1, *([1] * (like.dim() - 1)))


def _l2_norms(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).norm(p=2, dim=1)


def _check_eps(eps: float) -> None:
    if not eps >= 0:  # also rejects NaN
        raise ValueError(f"eps must be >= 0, got {eps}")


def _input_grad(
    model: nn.Module, x_adv: torch.Tensor, labels: torch.Tensor, autocast_dtype: torch.dtype | None
) -> torch.Tensor:
    """Gradient of the summed cross-entropy loss w.r.t. the (float32) input only."""
    x_adv = x_adv.detach().requires_grad_(True)
    with torch.enable_grad(), autocast(x_adv.device.type, autocast_dtype):
        logits = model(x_adv)
    loss = F.cross_entropy(logits.float(), labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x_adv)
    return grad.float()


@torch.no_grad()
def _loss_and_fooled(
    model: nn.Module, x_adv: torch.Tensor, labels: torch.Tensor, autocast_dtype: torch.dtype | None
) -> tuple[torch.Tensor, torch.Tensor]:
    with autocast(x_adv.device.type, autocast_dtype):
        logits = model(x_adv)
    logits = logits.float()
    loss = F.cross_entropy(logits, labels, reduction="none")
    return loss, logits.argmax(dim=1) != labels


def fgsm(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    *,
    autocast_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Fast gradient sign method: ``clip(x + eps * sign(grad_x loss), 0, 1)`` (single Linf step)."""
    _check_eps(eps)
    if eps == 0:
        return images.detach().clone()
    x = images.detach().float()
    with eval_mode(model):
        grad = _input_grad(model, x, labels, autocast_dtype)
    adv = (x + eps * grad.sign()).clamp(0.0, 1.0)
    return adv.to(images.dtype)


def _random_start(x: torch.Tensor, norm: str, eps: float, generator: torch.Generator | None) -> torch.Tensor:
    """Random initial perturbation, drawn from ``generator`` (global RNG if None).

    * linf: each coordinate uniform in ``[-eps, eps]``.
    * l2: uniform in the L2 ball of radius eps in R^d (d = elements per example): a direction drawn
      uniformly on the sphere (normalised standard Gaussian) times a radius ``eps * U**(1/d)`` with
      ``U ~ Uniform(0, 1)``. In high dimension nearly all of the ball's volume is close to its surface,
      so the start is almost always at radius ~eps (torchattacks' PGDL2 uses radius ``eps * U`` instead;
      on a toy CNN ours then ends ~0.5 pp weaker after 20 steps).

    Draws happen on the generator's device and are then moved to ``x.device``, so a CPU generator gives
    the same start on any device.
    """
    device = generator.device if generator is not None else x.device
    if norm == "linf":
        delta = torch.rand(x.shape, generator=generator, device=device) * 2 - 1
        delta = delta * eps
    else:
        direction = torch.randn(x.shape, generator=generator, device=device)
        direction = direction / _per_example(_l2_norms(direction).clamp_min(_TINY), direction)
        u = torch.rand(x.shape[0], generator=generator, device=device)
        radius = eps * u.pow(1.0 / x[0].numel())
        delta = direction * _per_example(radius, direction)
    return delta.to(device=x.device, dtype=torch.float32)


def _pgd_once(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    norm: str,
    eps: float,
    step_size: float,
    steps: int,
    random_start: bool,
    generator: torch.Generator | None,
    autocast_dtype: torch.dtype | None,
) -> torch.Tensor:
    """One PGD run from one (possibly random) start; returns the last iterate."""
    if random_start:
        adv = (x + _random_start(x, norm, eps, generator)).clamp(0.0, 1.0)
    else:
        adv = x.clone()
    for _ in range(steps):
        grad = _input_grad(model, adv, labels, autocast_dtype)
        if norm == "linf":
            delta = (adv + step_size * grad.sign() - x).clamp(-eps, eps)
        else:
            grad_norm = _per_example(_l2_norms(grad).clamp_min(_TINY), grad)
            delta = adv + step_size * grad / grad_norm - x
            delta_norm = _per_example(_l2_norms(delta).clamp_min(_TINY), delta)
            delta = delta * torch.clamp(eps / delta_norm, max=1.0)
        adv = (x + delta).clamp(0.0, 1.0)
    return adv


def pgd(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    norm: str,
    eps: float,
    step_size: float,
    steps: int,
    random_start: bool = True,
    restarts: int = 1,
    generator: torch.Generator | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Projected gradient descent (ascent on the loss) in the Linf or L2 ball of radius ``eps``.

    * linf: ``x <- Proj(x + step_size * sign(g))``.
    * l2: ``x <- Proj(x + step_size * g / ||g||_2)`` per example (zero gradients give a zero step), then
      projection onto the L2 ball by rescaling the perturbation to norm ``<= eps``; both followed by
      clipping to ``[0, 1]`` (which can only shrink the perturbation).

    Each restart runs ``steps`` iterations and yields its last iterate. Restart ``r > 0`` is only run on
    the examples that no earlier restart fooled. Per example, the result is the first restart's iterate
    that fools the model; if none does, the iterate with the highest loss over all restarts.
    ``random_start`` draws from ``generator`` (see :func:`_random_start`), so equal seeds give identical
    results. With ``autocast_dtype`` the forward/backward runs under :func:`torch.autocast`, while the
    perturbation is kept in float32.
    """
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid choices: {', '.join(NORMS)}")
    _check_eps(eps)
    if steps < 0 or restarts < 1 or not step_size >= 0:
        raise ValueError(f"need steps >= 0, restarts >= 1, step_size >= 0 (got {steps}, {restarts}, {step_size})")
    if eps == 0:
        return images.detach().clone()

    x = images.detach().float()
    y = labels.detach()
    args = (norm, eps, step_size, steps, random_start, generator, autocast_dtype)
    with eval_mode(model):
        best = _pgd_once(model, x, y, *args)
        if restarts > 1:
            best_loss, best_fooled = _loss_and_fooled(model, best, y, autocast_dtype)
            for _ in range(restarts - 1):
                idx = (~best_fooled).nonzero().squeeze(1)
                if idx.numel() == 0:
                    break
                adv = _pgd_once(model, x[idx], y[idx], *args)
                loss, fooled = _loss_and_fooled(model, adv, y[idx], autocast_dtype)
                replace = fooled | (loss > best_loss[idx])
                sel = idx[replace]
                best[sel] = adv[replace]
                best_loss[sel] = loss[replace]
                best_fooled[sel] = fooled[replace]
    return best.to(images.dtype)


def _model_device(model: nn.Module, fallback: torch.device) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return fallback


def robust_predictions(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    attack: str,
    batch_size: int,
    **attack_kwargs,
) -> torch.Tensor:
    """Logits (float32, N x C, on CPU) of ``model`` on adversarial versions of ``images``.

    ``attack`` is one of ``fgsm`` (kwargs: ``eps``), ``pgd_linf`` / ``pgd_l2`` (kwargs of :func:`pgd`
    except ``norm``), ``autoattack_linf`` / ``autoattack_l2`` (kwargs of `autoattack.autoattack` except
    ``norm``; only these import torchattacks). Batches of ``batch_size`` are moved to the model's device; a
    ``generator`` in the kwargs is shared across batches, so results are reproducible for a fixed batch size. The final
    forward pass runs without grad, under ``autocast_dtype`` when one is given (the same numerics the
    attack optimised against). eps=0 gives the clean logits.
    """
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; valid choices: {', '.join(ATTACKS)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if "norm" in attack_kwargs:
        raise ValueError("pass the norm through `attack` (pgd_linf / pgd_l2 / autoattack_*), not as `norm`")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    device = _model_device(model, images.device)
    autocast_dtype = attack_kwargs.get("autocast_dtype")
    outputs = []
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            y = labels[start : start + batch_size].to(device)
            if attack == "fgsm":
                adv = fgsm(model, x, y, **attack_kwargs)
            elif attack in AUTOATTACKS:
                from multisheets.interventions.autoattack import autoattack

                adv = autoattack(model, x, y, norm=attack.removeprefix("autoattack_"), **attack_kwargs)
            else:
                adv = pgd(model, x, y, norm=attack.removeprefix("pgd_"), **attack_kwargs)
            with torch.no_grad(), autocast(device.type, autocast_dtype):
                logits = model(adv)
            outputs.append(logits.float().cpu())
    if not outputs:
        raise ValueError("no images given")
    return torch.cat(outputs)
