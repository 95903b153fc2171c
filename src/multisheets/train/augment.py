"""Training-time augmentation, batched on the device that holds the uint8 images.

Kinds (the `augment` hyperparameter):

- ``crop_flip``: random translation by up to 4 px (reflect padding) and a random horizontal flip; the
  standard CIFAR recipe.
- ``translate2_altflip``: translation by up to 2 px and *alternating* flips: each example's flip is drawn
  once per run and then inverted every epoch, so every example is seen flipped and unflipped equally often
  (airbench94's choice; it beats independent flips in short runs, where coin flips leave many examples
  seen in one orientation only).
- ``flip``: random horizontal flip only. ``none``: no augmentation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PADDING = {"crop_flip": 4, "translate2_altflip": 2, "flip": 0, "none": 0}  # translation range per kind
AUGMENTATIONS = tuple(PADDING)


def translate(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by its own offset in [-padding, padding] per axis, filling with reflected pixels."""
    n, channels, height, width = images.shape
    device = images.device
    padded = F.pad(images, (padding,) * 4, mode="reflect")
    shift = torch.randint(0, 2 * padding + 1, (2, n, 1), device=device, generator=generator)
    rows = torch.arange(height, device=device) + shift[0]  # (n, H): the rows each example keeps
    cols = torch.arange(width, device=device) + shift[1]  # (n, W)
    out = padded.gather(2, rows[:, None, :, None].expand(n, channels, height, padded.shape[3]))
    return out.gather(3, cols[:, None, None, :].expand(n, channels, height, width))


def flip_where(images: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    return torch.where(flip[:, None, None, None], images.flip(3), images)


class Augmenter:
    """Turns a batch of uint8 NCHW training images into augmented float [0, 1] images for one run.

    `num_examples` and the batch's `index` (positions in the training split) let per-example state, the
    alternating flip, follow each example across epochs. All randomness comes from `generator`.
    """

    def __init__(self, kind: str, num_examples: int, generator: torch.Generator):
        if kind not in AUGMENTATIONS:
            raise ValueError(f"unknown augment {kind!r} (known: {', '.join(AUGMENTATIONS)})")
        self.kind, self.generator = kind, generator
        self.first_flip = None
        if kind == "translate2_altflip":
            self.first_flip = torch.rand(num_examples, device=generator.device, generator=generator) < 0.5

    def __call__(self, batch: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
        images = batch.float().div_(255)
        if self.kind == "none":
            return images
        if PADDING[self.kind]:
            images = translate(images, PADDING[self.kind], self.generator)
        return flip_where(images, self.flips(index, epoch))

    def flips(self, index: torch.Tensor, epoch: int) -> torch.Tensor:
        """Which examples of the batch to mirror in `epoch` (counting from 1)."""
        if self.first_flip is not None:
            return self.first_flip[index] ^ (epoch % 2 == 0)  # even epochs invert the drawn flips
        return torch.rand(len(index), device=index.device, generator=self.generator) < 0.5
