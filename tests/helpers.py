"""Test helpers that are not fixtures (tests import them as `from helpers import ...`)."""

from pathlib import Path

from PIL import Image

from multisheets.data import LabelledImages


def write_imagefolder(root: str | Path, splits: dict[str, LabelledImages], classes: list[str]) -> Path:
    """Write arrays as ``<root>/<split>/<class>/<index>.png`` (lossless), to test the imagefolder source."""
    root = Path(root)
    for split, data in splits.items():
        for index, (image, label) in enumerate(zip(data.images, data.labels)):
            folder = root / split / classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{index:05d}.png")
    return root
