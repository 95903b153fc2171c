"""Batched inference of a model on uint8 images resident on the device.

Training validates each epoch with it and evaluation scores every intervention with it; it lives beside the
model code, below both stages, so that training never imports evaluation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from multisheets.models.runtime import Runtime, eval_mode

EVAL_BATCH_SIZE = 1024


def device_images(images: np.ndarray, runtime: Runtime) -> torch.Tensor:
    """uint8 (N, H, W, 3) numpy -> uint8 (N, 3, H, W) on the device: 4x less memory than float, converted per batch."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return tensor.contiguous().to(runtime.device, non_blocking=True)


@torch.inference_mode()
def predict(
    forward: Callable, images: torch.Tensor, runtime: Runtime, batch_size: int = EVAL_BATCH_SIZE, tta: bool = True
):
    """Logits (float32, N x C) for uint8 NCHW images already on the device, in eval mode, batched.

    ``tta=False`` skips the model's test-time augmentation (cheap monitoring during training); evaluation keeps it.
    """
    module = getattr(forward, "_orig_mod", forward)
    own_tta = getattr(module, "tta", None)
    if not tta and own_tta is not None:
        module.tta = "none"
    outputs = []
    with eval_mode(module):
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].float().div_(255)
            if runtime.channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            with runtime.autocast():
                outputs.append(forward(batch).float())
    if own_tta is not None:
        module.tta = own_tta
    return torch.cat(outputs)
