import gzip
import json
import shutil
import tarfile

import numpy as np
import pytest
from helpers import write_imagefolder
from PIL import Image

from multisheets.data.arrays import DataError, LabelledImages
from multisheets.data.imagefolder import decode_image, read_imagefolder
from multisheets.data.prepare import prepare, split_validation
from multisheets.data.resize import RESIZE_METHODS, resize_images
from multisheets.data.synthetic import make_synthetic


def small_splits():
    splits, classes, _ = make_synthetic(num_classes=3, image_size=8, train_per_class=5, test_per_class=2)
    return splits, classes


def test_split_is_deterministic_and_disjoint():
    images = np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1).repeat(3, axis=3)
    train = LabelledImages(images, np.arange(100) % 10)
    a_train, a_val = split_validation(train, 20, split_seed=1)
    b_train, b_val = split_validation(train, 20, split_seed=1)
    assert np.array_equal(a_val.images, b_val.images) and np.array_equal(a_train.labels, b_train.labels)
    _, other_val = split_validation(train, 20, split_seed=2)
    assert not np.array_equal(a_val.images, other_val.images)
    seen = np.concatenate([a_train.images[:, 0, 0, 0], a_val.images[:, 0, 0, 0]])
    assert sorted(seen.tolist()) == list(range(100))


def test_split_rejects_impossible_sizes():
    train = LabelledImages(np.zeros((10, 2, 2, 3), np.uint8), np.zeros(10, np.int64))
    with pytest.raises(DataError, match="val_size"):
        split_validation(train, 10, 0)


@pytest.mark.parametrize("packed", [False, True])
def test_imagefolder_directory_and_archive_read_back_exactly(tmp_path, packed):
    splits, classes = small_splits()
    root = write_imagefolder(tmp_path / "cifar-mini", splits, classes)
    source = root
    if packed:
        source = tmp_path / "mini.tar.gz"
        with tarfile.open(source, "w:gz") as archive:
            archive.add(root, arcname="cifar-mini")
    read, read_classes, checksum = read_imagefolder(source)
    assert read_classes == classes and len(checksum) == 64
    for split in ("train", "test"):
        order = np.lexsort((np.arange(len(splits[split].labels)), splits[split].labels))
        assert np.array_equal(read[split].labels, splits[split].labels[order])
        assert np.array_equal(read[split].images, splits[split].images[order])


def test_imagefolder_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_imagefolder(tmp_path / "missing")
    (tmp_path / "only" / "train" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="'train/<class>/'"):
        read_imagefolder(tmp_path / "only")
    splits, classes = small_splits()
    root = write_imagefolder(tmp_path / "broken", splits, classes)
    (root / "test" / classes[0] / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="bad.png"):
        read_imagefolder(root)


def test_prepare_writes_arrays_and_description(tmp_path):
    config = {
        "source": "synthetic",
        "val_size": 6,
        "split_seed": 0,
        "synthetic": {"num_classes": 3, "image_size": 8, "train_per_class": 10, "test_per_class": 4},
    }
    info = prepare(config, tmp_path)
    assert info["sizes"] == {"train": 24, "val": 6, "test": 12}
    assert np.load(tmp_path / "val_images.npy").shape == (6, 8, 8, 3)
    assert np.load(tmp_path / "train_images.npy").dtype == np.uint8
    assert np.load(tmp_path / "test_labels.npy").dtype == np.int64
    assert json.loads((tmp_path / "dataset.json").read_text())["classes"] == ["class0", "class1", "class2"]


def mini_archive(tmp_path, name: str, mode: str):
    """A small image folder packed as `name` (tarfile `mode`: "w" or "w:gz")."""
    splits, classes = small_splits()
    root = write_imagefolder(tmp_path / "cifar-mini", splits, classes)
    with tarfile.open(tmp_path / name, mode) as archive:
        archive.add(root, arcname="cifar-mini")
    return tmp_path / name


@pytest.mark.parametrize("where", [0.15, 0.3, 0.5, 0.7, 0.9])
def test_a_damaged_archive_is_refused_by_name(tmp_path, where):
    """Four flipped bytes anywhere in a .tar.gz: a CRC, inflate or tar-header error, never a smaller data set."""
    source = mini_archive(tmp_path, "mini.tar.gz", "w:gz")
    data = bytearray(source.read_bytes())
    position = int(len(data) * where)
    data[position : position + 4] = bytes(b ^ 0xFF for b in data[position : position + 4])
    source.write_bytes(bytes(data))
    with pytest.raises(DataError, match="mini.tar.gz: damaged archive"):
        read_imagefolder(source)


def test_an_archive_whose_tar_structure_breaks_midway_is_refused(tmp_path):
    """A damaged member header inside an intact gzip stream: tarfile alone would stop there without a word."""
    plain = mini_archive(tmp_path, "mini.tar", "w")
    data = bytearray(plain.read_bytes())
    with tarfile.open(plain) as archive:
        late = archive.getmembers()[-3].offset  # a header near the end: most images before it read fine
    data[late + 148 : late + 156] = b"garbage!"  # its checksum field
    source = tmp_path / "mini.tar.gz"
    with gzip.open(source, "wb") as handle:
        handle.write(bytes(data))
    with pytest.raises(DataError, match="mini.tar.gz: damaged archive"):
        read_imagefolder(source)


def test_what_an_image_folder_holds_is_read_as_a_user_expects(tmp_path, caplog):
    splits, classes = small_splits()
    root = write_imagefolder(tmp_path / "mini", splits, classes)
    before, _, _ = read_imagefolder(root)
    # macOS metadata files beside the images are skipped (with a count in the log), not decoded
    (root / "train" / classes[0] / "._00000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    # images in a deeper folder of a class belong to that class, as in torchvision's ImageFolder
    deeper = root / "train" / classes[1] / "extra"
    deeper.mkdir()
    Image.fromarray(splits["train"].images[0]).save(deeper / "more.png")
    (root / "train" / "zebra").mkdir()  # an empty class folder is named in the log, not silently dropped
    with caplog.at_level("WARNING"):
        read, _, _ = read_imagefolder(root)
    assert "skipped 1 hidden file" in caplog.text
    assert "class folder(s) without images, not classes of this study: train/zebra" in caplog.text
    assert len(read["train"].labels) == len(before["train"].labels) + 1
    assert (read["train"].labels == 1).sum() == (before["train"].labels == 1).sum() + 1


def test_sixteen_bit_png_keeps_its_values(tmp_path):
    grey = np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000  # up to 60,000 of 65,535
    path = tmp_path / "deep.png"
    Image.fromarray(grey).save(path)  # a 16-bit greyscale PNG
    decoded = decode_image(tmp_path, "deep.png", path.read_bytes())
    assert decoded.dtype == np.uint8 and decoded.shape == (4, 4, 3)
    assert np.array_equal(decoded[..., 0], np.round(grey / 257).astype(np.uint8))  # not all white


def test_a_class_without_test_images_is_refused(tmp_path):
    splits, classes = small_splits()
    root = write_imagefolder(tmp_path / "mini", splits, classes)
    shutil.rmtree(root / "test" / classes[1])
    with pytest.raises(DataError, match=rf"test/ has no images of class\(es\) \['{classes[1]}'\]"):
        read_imagefolder(root)


def test_a_truncated_archive_is_refused_by_name(tmp_path):
    source = mini_archive(tmp_path, "mini.tar.gz", "w:gz")
    source.write_bytes(source.read_bytes()[: source.stat().st_size * 2 // 3])
    with pytest.raises(DataError, match="mini.tar.gz: damaged archive"):
        read_imagefolder(source)


def test_images_of_any_size_are_resized_to_the_studys_size(tmp_path):
    """`data.image_size` resizes every image in the data stage, an image folder's of mixed sizes included (without
    it they are refused); `dataset.json` says how."""
    splits, classes = small_splits()
    root = write_imagefolder(tmp_path / "mixed", splits, classes)
    Image.fromarray(np.zeros((20, 12, 3), np.uint8)).save(root / "train" / classes[0] / "wide.png")
    with pytest.raises(DataError, match=r"wide.png has shape \(20, 12, 3\).*set data.image_size"):
        read_imagefolder(root)
    config = {"source": "imagefolder", "path": str(root), "val_size": 3, "split_seed": 0}
    info = prepare(config | {"image_size": 16, "resize": "bicubic"}, tmp_path / "out")
    assert info["resize"] == {"image_size": 16, "method": "bicubic"} and info["image_shape"] == [16, 16, 3]
    for split in ("train", "val", "test"):
        images = np.load(tmp_path / "out" / f"{split}_images.npy")
        assert images.dtype == np.uint8 and images.shape[1:] == (16, 16, 3)
    synthetic = {
        "source": "synthetic",
        "val_size": 6,
        "split_seed": 0,
        "synthetic": {"num_classes": 3, "image_size": 8},
    }
    assert prepare(synthetic, tmp_path / "kept")["resize"] is None
    assert np.load(tmp_path / "kept" / "test_images.npy").shape[1:] == (8, 8, 3)
    prepare(synthetic | {"image_size": 28, "resize": "bilinear"}, tmp_path / "larger")
    assert np.load(tmp_path / "larger" / "test_images.npy").shape[1:] == (28, 28, 3)


def test_resizing_methods_do_what_they_say():
    """A pixel checkerboard of 0 and 255 halved: area gives its mean, the antialiased filters nearly its mean (a few
    levels off at the border), where sampling without a filter, like nearest, gives one of its pixels. A constant
    image stays constant under every method, and an image of the requested size is kept as it is."""
    board = (np.indices((16, 16)).sum(0) % 2 * 255).astype(np.uint8)
    board = np.repeat(board[None, ..., None], 3, axis=3)  # (1, 16, 16, 3)
    assert np.abs(resize_images(board, 8, "area").astype(int) - 128).max() <= 1
    for method in ("bilinear", "bicubic", "lanczos"):
        assert np.abs(resize_images(board, 8, method).astype(int) - 128).max() <= 8, method
    assert set(np.unique(resize_images(board, 8, "nearest"))) <= {0, 255}
    grey = np.full((2, 10, 14, 3), 77, np.uint8)
    for method in RESIZE_METHODS:
        assert (resize_images(grey, 32, method) == 77).all(), method
    assert resize_images(board, 16) is board
