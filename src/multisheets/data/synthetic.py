"""A procedural labelled image set for smoke runs and tests: no download, any size."""

from __future__ import annotations

import json

import numpy as np

from multisheets.data.arrays import LabelledImages


def make_synthetic(
    num_classes: int = 10, image_size: int = 32, train_per_class: int = 500, test_per_class: int = 100, seed: int = 0
) -> tuple[dict[str, LabelledImages], list[str], str]:
    """A small procedural dataset that needs no download: smoke runs and tests anywhere.

    Each class is a smooth random colour pattern; an image blends its class pattern with a distractor
    class, shifts it and adds noise, so models make errors and disagree (a task of CIFAR-like difficulty
    for tiny models, not a trivially separable one).
    """
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 1, size=(num_classes, 4, 4, 3))
    upsample = np.kron(coarse, np.ones((1, image_size // 4 + 1, image_size // 4 + 1, 1)))
    prototypes = upsample[:, :image_size, :image_size, :]

    def sample(count: int) -> LabelledImages:
        labels = np.repeat(np.arange(num_classes), count)
        distractors = (labels + rng.integers(1, num_classes, size=labels.size)) % num_classes
        weight = rng.uniform(0.35, 0.75, size=(labels.size, 1, 1, 1))
        images = weight * prototypes[labels] + (1 - weight) * prototypes[distractors]
        shifts = rng.integers(-3, 4, size=(labels.size, 2))
        images = np.stack([np.roll(image, tuple(shift), axis=(0, 1)) for image, shift in zip(images, shifts)])
        images = images + rng.normal(0, 0.12, size=images.shape)
        return LabelledImages((np.clip(images, 0, 1) * 255).round().astype(np.uint8), labels.astype(np.int64))

    splits = {"train": sample(train_per_class), "test": sample(test_per_class)}
    classes = [f"class{index}" for index in range(num_classes)]
    # Every argument, since each changes the images (a checksum naming only the seed let two data sets share it).
    settings = dict(
        num_classes=num_classes,
        image_size=image_size,
        train_per_class=train_per_class,
        test_per_class=test_per_class,
        seed=seed,
    )
    return splits, classes, "synthetic:" + json.dumps(settings, sort_keys=True)
