import pytest
import torch

from multisheets.train.augment import AUGMENTATIONS, Augmenter, translate


def augmenter(kind, n=64, seed=0):
    return Augmenter(kind, n, torch.Generator().manual_seed(seed))


def test_crop_flip_is_seeded_and_stays_in_range():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    index = torch.arange(64)
    out = augmenter("crop_flip")(images, index, 1)
    assert out.shape == (64, 3, 8, 8) and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1
    assert not torch.equal(out, images.float() / 255)
    assert torch.equal(out, augmenter("crop_flip")(images, index, 1))
    assert torch.equal(augmenter("none")(images, index, 1), images.float() / 255)
    flipped, plain = augmenter("flip", seed=1)(images, index, 1), images.float() / 255
    assert all(torch.equal(f, p) or torch.equal(f, p.flip(2)) for f, p in zip(flipped, plain))


@pytest.mark.parametrize("padding", [2, 4])
def test_translation_is_a_reflect_padded_shift_of_at_most_padding(padding):
    images = torch.rand(32, 3, 10, 10)
    padded = torch.nn.functional.pad(images, (padding,) * 4, mode="reflect")
    out = translate(images, padding, torch.Generator().manual_seed(3))
    offsets = set()
    for image, source in zip(out, padded):
        (match,) = [
            (dy, dx)
            for dy in range(2 * padding + 1)
            for dx in range(2 * padding + 1)
            if torch.equal(source[:, dy : dy + 10, dx : dx + 10], image)
        ]
        offsets.add(match)
    assert len(offsets) > 5  # per-example offsets, not one shift for the batch


def test_alternating_flip_mirrors_each_example_every_other_epoch():
    aug = augmenter("translate2_altflip", n=1000)
    index = torch.arange(1000)
    first, second, third = (aug.flips(index, epoch) for epoch in (1, 2, 3))
    assert torch.equal(second, ~first) and torch.equal(third, first)
    assert 0.4 < first.float().mean() < 0.6
    batch = index[torch.randperm(1000)[:100]]  # follows the example, whatever batch it lands in
    assert torch.equal(aug.flips(batch, 2), ~first[batch])
    independent = augmenter("crop_flip", n=1000)
    assert not torch.equal(independent.flips(index, 2), ~independent.flips(index, 1))


def test_unknown_augmentation_is_named():
    with pytest.raises(ValueError, match="unknown augment 'mixup'"):
        augmenter("mixup")
    assert "translate2_altflip" in AUGMENTATIONS
