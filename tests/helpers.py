"""Test helpers that are not fixtures (tests import them as `from helpers import ...`)."""

from pathlib import Path

from PIL import Image

from multisheets.data.arrays import LabelledImages

# The fast recipe shrunk for a 4-class toy set: airbench94's optimiser settings on a width-8 fastnet.
FAST = {
    "model": "fastnet",
    "width": 8,
    "recipe": "fast",
    "epochs": 8,
    "batch_size": 32,
    "lr": 1.5,
    "momentum": 0.85,
    "weight_decay": 0.00133,
    "schedule": "triangle",
    "warmup_epochs": 1,
    "label_smoothing": 0.2,
    "augment": "translate2_altflip",
    "tta": "flip_translate",
}


def write_imagefolder(root: str | Path, splits: dict[str, LabelledImages], classes: list[str]) -> Path:
    """Write arrays as ``<root>/<split>/<class>/<index>.png`` (lossless), to test the imagefolder source."""
    root = Path(root)
    for split, data in splits.items():
        for index, (image, label) in enumerate(zip(data.images, data.labels)):
            folder = root / split / classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{index:05d}.png")
    return root
