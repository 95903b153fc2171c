"""Starting a run from a checkpoint (`init: <path>`) instead of from scratch, fine-tuned or as a linear probe.

A checkpoint is this workflow's ``model.pt`` or a plain state_dict, such as the ImageNet weights file torchvision
downloads (``resnet50-0676ba61.pth``). Its tensors are matched to the model's by name and shape: what matches is
loaded, the rest (a head for another number of classes, a small-image stem) keeps the run's fresh weights from
`init_seed`. Matching by name is why the zoo keeps torchvision's module names. With `finetune: linear_probe` the
head (the backbone's last linear layer) starts fresh from `init_seed` and is all that trains: everything loaded is
frozen, its batch-norm statistics included.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# What trains when a run starts from a checkpoint (hyperparameter `finetune`).
FINETUNE = ("full", "linear_probe")

# Prefixes a checkpoint's names may carry that the backbone's do not: this workflow's `Classifier` (backbone.),
# DataParallel / DistributedDataParallel (module.), and torch.compile's wrapper (_orig_mod.).
PREFIXES = ("backbone.", "module.", "_orig_mod.")
# Below this share of the backbone's weight tensors matched, the checkpoint is taken to be of another architecture.
MIN_MATCHED = 0.5


def read_pretrained(path: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors by the backbone's names; tensors only (``weights_only``), so a file cannot run code."""
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds here; all mean "not a checkpoint"
        raise ValueError(f"init: {path} could not be read as a checkpoint: {error}") from error
    if isinstance(content, dict) and isinstance(content.get("state_dict"), dict):
        content = content["state_dict"]  # this workflow's model.pt, and many training scripts' checkpoints
    if not isinstance(content, dict):
        raise ValueError(f"init: {path} holds a {type(content).__name__}, not a state_dict of tensors")
    tensors = {}
    for name, value in content.items():
        if not isinstance(value, torch.Tensor):
            continue
        for prefix in PREFIXES:
            name = name.removeprefix(prefix)
        tensors[name] = value
    return tensors


def load_pretrained(backbone: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path, model: str) -> set[str]:
    """Copy the checkpoint's tensors whose names and shapes match into `backbone`; the names loaded.

    Refuses a checkpoint that matches fewer than half of the backbone's weight tensors: a file of another
    architecture would otherwise train as if from scratch under a name that says it was not.
    """
    own = backbone.state_dict()
    matched = {name: value for name, value in tensors.items() if name in own and own[name].shape == value.shape}
    weights = [name for name, _ in backbone.named_parameters()]
    loaded = sum(name in matched for name in weights)
    if loaded < MIN_MATCHED * len(weights):
        example = next((name for name in weights if name not in matched), "")
        raise ValueError(
            f"init: {path} matches {loaded} of the {len(weights)} weight tensors of model {model} by name and shape "
            f"(e.g. no {example!r} of shape {tuple(own[example].shape) if example else ()}): is it a checkpoint of "
            "this architecture?"
        )
    backbone.load_state_dict(own | {name: value.to(own[name].dtype) for name, value in matched.items()})
    return set(matched)


def head_names(backbone: nn.Module) -> set[str]:
    """The parameter names of the backbone's last linear layer: what a linear probe trains."""
    linears = [name for name, module in backbone.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError("finetune: linear_probe needs a model whose head is a linear layer")
    return {f"{linears[-1]}.{name}" for name, _ in backbone.get_submodule(linears[-1]).named_parameters()}


def set_trainable(module: nn.Module, trainable: dict[str, bool], frozen: set[str]) -> None:
    """Give every parameter its architecture's own `requires_grad` (`trainable`), less the `frozen` names."""
    for name, parameter in module.named_parameters():
        parameter.requires_grad_(trainable[name] and name not in frozen)


def freeze_norm_statistics(module: nn.Module) -> None:
    """Put batch norms none of whose parameters train into eval mode: in a linear probe their running statistics
    are the checkpoint's, and updating them in train mode would change the frozen features under the head."""
    for norm in module.modules():
        if isinstance(norm, nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in norm.parameters()):
            norm.eval()
