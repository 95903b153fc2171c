"""The torchvision sources, each read by torchvision's own class from small files written here in that dataset's real
on-disk format, and prepared into the arrays every later stage reads.

The files are fakes, so their MD5s are not the published ones that torchvision checks (for CIFAR, SVHN and STL-10):
`offline` bypasses only that check (a file must still be there), and refuses any network connection, so a test
that would download fails instead of reaching the internet.
"""

import os
import pickle
import socket

import numpy as np
import pytest
import scipy.io
from torchvision.datasets import cifar, mnist, stl10, svhn, utils

from multisheets.data.prepare import prepare
from multisheets.data.sources import SOURCES
from multisheets.data.torchvision_sources import SIZES, TORCHVISION_SETS
from multisheets.plan.preflight import split_sizes


@pytest.fixture
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for module in (cifar, mnist, stl10):  # called only where files are missing
        monkeypatch.setattr(module, "download_and_extract_archive", refuse)
    for module in (utils, cifar, mnist, stl10, svhn):  # SVHN's download() checks the file it finds via utils

        def present(fpath, md5=None):
            return os.path.isfile(fpath)

        monkeypatch.setattr(module, "check_integrity", present)


def fake_images(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, size, size, 3) noise images, and labels cycling through the classes later (label = index % C)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8), np.arange(count)


def write_cifar100(root, train: int, test: int) -> dict:
    """``cifar-100-python/{train,test,meta}``: pickled dicts of rows of R, G, B planes and their fine labels."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    written = {}
    for part, count, seed in (("train", train, 0), ("test", test, 1)):
        images, index = fake_images(count, 32, seed)
        labels = index % 100
        rows = images.transpose(0, 3, 1, 2).reshape(count, -1)
        entry = {"data": rows, "fine_labels": labels.tolist(), "coarse_labels": (labels // 5).tolist()}
        (folder / part).write_bytes(pickle.dumps(entry))
        written[part] = (images, labels)
    names = [f"fine{index:02d}" for index in range(100)]
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": names, "coarse_label_names": []}))
    return written | {"classes": names}


def write_svhn(root, train: int, test: int) -> dict:
    """``{train,test}_32x32.mat``: X of shape (32, 32, 3, N), y of shape (N, 1) with the digit 0 labelled 10."""
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for part, count, seed in (("train", train, 2), ("test", test, 3)):
        images, index = fake_images(count, 32, seed)
        digits = index % 10
        y = np.where(digits == 0, 10, digits).astype(np.uint8)[:, None]
        scipy.io.savemat(root / f"{part}_32x32.mat", {"X": images.transpose(1, 2, 3, 0), "y": y})
        written[part] = (images, digits)
    return written | {"classes": [str(digit) for digit in range(10)]}


def write_mnist(root, folder: str, train: int, test: int) -> dict:
    """``<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``: big-endian idx files of greyscale 28x28."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    written = {}
    for part, count, seed in (("train", train, 4), ("t10k", test, 5)):
        images, index = fake_images(count, 28, seed)
        grey, labels = images[..., 0], index % 10
        header = np.array([0x0803, count, 28, 28], ">i4").tobytes()
        (raw / f"{part}-images-idx3-ubyte").write_bytes(header + grey.tobytes())
        (raw / f"{part}-labels-idx1-ubyte").write_bytes(
            np.array([0x0801, count], ">i4").tobytes() + labels.astype(np.uint8).tobytes()
        )
        written["train" if part == "train" else "test"] = (grey, labels)
    return written


STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def write_stl10(root, train: int, test: int) -> dict:
    """``stl10_binary/``: {train,test}_X.bin (each channel of a 96x96 image column-major), _y.bin (1..10),
    class_names.txt. unlabeled_X.bin is only checked for, never read: an empty placeholder."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    written = {}
    for part, count, seed in (("train", train, 6), ("test", test, 7)):
        images, index = fake_images(count, 96, seed)
        labels = index % 10
        (folder / f"{part}_X.bin").write_bytes(np.ascontiguousarray(images.transpose(0, 3, 2, 1)).tobytes())
        (folder / f"{part}_y.bin").write_bytes((labels + 1).astype(np.uint8).tobytes())
        written[part] = (images, labels)
    (folder / "class_names.txt").write_text("\n".join(STL10_CLASSES) + "\n")
    (folder / "unlabeled_X.bin").write_bytes(b"")
    return written | {"classes": STL10_CLASSES}


FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
# source -> (writer of its files, train and test counts written, its class names where the writer does not say)
WRITERS = {
    "cifar100": (write_cifar100, 200, 100),
    "svhn": (write_svhn, 30, 20),
    "mnist": (lambda root, train, test: write_mnist(root, "MNIST", train, test), 30, 20),
    "fashion_mnist": (lambda root, train, test: write_mnist(root, "FashionMNIST", train, test), 30, 20),
    "stl10": (write_stl10, 20, 10),
}
CLASSES = {"mnist": [f"{d} - {w}" for d, w in enumerate("zero one two three four five six seven eight nine".split())]}
CLASSES["fashion_mnist"] = FASHION_CLASSES


@pytest.mark.parametrize("source", sorted(TORCHVISION_SETS))
def test_a_torchvision_source_reads_its_real_format_and_prepares_uint8_rgb(source, offline, tmp_path):
    write, train, test = WRITERS[source]
    written = write(tmp_path / "download", train, test)
    splits, classes, checksum = SOURCES[source].read({"path": str(tmp_path / "download")})
    assert classes == written.get("classes", CLASSES.get(source)) and len(checksum) == 64
    for part, count in (("train", train), ("test", test)):
        images, labels = written[part]
        read = splits[part]
        assert read.images.dtype == np.uint8 and read.images.flags.c_contiguous
        assert read.images.shape == (count, *images.shape[1:3], 3) and read.labels.dtype == np.int64
        np.testing.assert_array_equal(read.labels, labels)
        if images.ndim == 3:  # greyscale: the one channel in all three
            assert all(np.array_equal(read.images[..., channel], images) for channel in range(3))
        else:  # colour, channels last in the file's orientation (SVHN, STL-10 transposed from channels first)
            np.testing.assert_array_equal(read.images, images)

    config = {"source": source, "path": str(tmp_path / "download"), "val_size": len(classes) // 2, "split_seed": 0}
    info = prepare(config, tmp_path / "prepared")
    assert info["classes"] == classes and info["checksum"] == checksum and info["resize"] is None
    assert info["sizes"] == {"train": train - len(classes) // 2, "val": len(classes) // 2, "test": test}
    for split, count in info["sizes"].items():
        images = np.load(tmp_path / "prepared" / f"{split}_images.npy")
        assert images.dtype == np.uint8 and images.shape == (count, *splits["test"].images.shape[1:])
        assert len(np.load(tmp_path / "prepared" / f"{split}_labels.npy")) == count


@pytest.mark.parametrize(("source", "size"), [("stl10", 32), ("mnist", 32)])
def test_a_torchvision_source_is_resized_to_the_studys_size(source, size, offline, tmp_path):
    """STL-10's 96 px images down to 32 (for speed), MNIST's 28 px up to CIFAR's 32."""
    write, train, test = WRITERS[source]
    write(tmp_path / "download", train, test)
    config = {"source": source, "path": str(tmp_path / "download"), "val_size": 5, "split_seed": 0}
    info = prepare(config | {"image_size": size, "resize": "bilinear"}, tmp_path / "prepared")
    assert info["image_shape"] == [size, size, 3] and info["resize"] == {"image_size": size, "method": "bilinear"}
    assert np.load(tmp_path / "prepared" / "test_images.npy").shape == (test, size, size, 3)


def test_the_sizes_of_the_real_sets_are_known_before_any_job():
    """Counts from the datasets' documentation: SVHN without its `extra` part, STL-10's labelled parts only."""
    assert SIZES == {
        "cifar10": {"train": 50_000, "test": 10_000},
        "cifar100": {"train": 50_000, "test": 10_000},
        "svhn": {"train": 73_257, "test": 26_032},
        "mnist": {"train": 60_000, "test": 10_000},
        "fashion_mnist": {"train": 60_000, "test": 10_000},
        "stl10": {"train": 5_000, "test": 8_000},
    }
    for source, sizes in SIZES.items():
        data = {"source": source, "path": "nowhere", "val_size": 1000, "split_seed": 0}
        assert split_sizes(data, "nowhere") == {"train": sizes["train"] - 1000, "val": 1000, "test": sizes["test"]}
    with pytest.raises(ValueError, match="data.val_size: 5000 must lie between 1 and the 5000 training images"):
        split_sizes({"source": "stl10", "val_size": 5000}, "nowhere")  # the default val_size is all of STL-10's


@pytest.mark.parametrize("source", sorted(TORCHVISION_SETS))
def test_a_missing_file_would_be_downloaded_which_these_tests_refuse(source, offline, tmp_path):
    """The guard the other tests rely on: with a test file missing, torchvision downloads, and `offline` stops it."""
    write, train, test = WRITERS[source]
    write(tmp_path / "download", train, test)
    files = sorted(path for path in (tmp_path / "download").rglob("*") if path.is_file())
    next(path for path in files if path.name.startswith(("test", "t10k"))).unlink()
    with pytest.raises(AssertionError, match="a download was attempted"):
        SOURCES[source].read({"path": str(tmp_path / "download")})
