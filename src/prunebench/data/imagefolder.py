"""imagefolder: a class-per-folder image tree (the ImageNet layout), e.g. ImageNet-100.

``data_dir`` holds ``train/`` and ``val/`` (or ``test/``), each with one folder per class. Every image
is decoded once with Pillow, its shorter side resized to ``image_size * 8/7`` and centre-cropped to
``image_size`` (default 64), and the whole set is cached as uint8 arrays in an .npz under the cache
directory, keyed by the file list, sizes, modification times and ``image_size``. Training runs keep
the set resident on the device as uint8 (normalised per batch), so ``image_size`` bounds the memory:
N x 3 x S x S bytes (four times that for ``load_data`` without ``compact``).
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from . import fingerprint
from .base import register_dataset, RawData, cache_dir

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff")
DEFAULT_SIZE = 64
TEST_SPLITS = ("val", "test")


def _split_dirs(root: Path) -> tuple[Path, Path]:
    if not root.is_dir():
        raise DataError(f"imagefolder: no such directory {root} (expected train/ and val/ with one folder per class)")
    test = next((root / s for s in TEST_SPLITS if (root / s).is_dir()), None)
    if not (root / "train").is_dir() or test is None:
        raise DataError(f"imagefolder: {root} needs train/ and val/ (or test/) folders, one subfolder per class")
    return root / "train", test


def _regular(path: Path) -> bool:
    """Whether ``path`` is a regular file (a symlink is followed); a symlink that loops or points
    nowhere is refused in one line, as is a file that cannot be looked at."""
    try:
        st = path.stat()
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise DataError(f"imagefolder: {path} is a symlink that refers to itself (a loop)") from None
        if path.is_symlink():
            raise DataError(f"imagefolder: {path} is a symlink to nothing ({os.readlink(path)})") from None
        raise DataError(f"imagefolder: cannot read {path} ({err.strerror})") from None
    return stat.S_ISREG(st.st_mode)


def _class_dirs(train_dir: Path) -> list[str]:
    names = []
    for p in train_dir.iterdir():
        if p.is_symlink():
            _regular(p)  # refuses a loop or a dangling link
        if p.is_dir():
            names.append(p.name)
    return sorted(names)


def _files(split: Path, classes: list[str], skipped: list[Path]) -> list[tuple[Path, int]]:
    """The images of a split by class. A FIFO, socket or device (whatever its name) would block or
    never end in the decoder: it is skipped and counted in ``skipped``."""
    items = []
    for label, name in enumerate(classes):
        folder = split / name
        if not folder.is_dir():
            raise DataError(f"imagefolder: class {name!r} of train/ has no folder in {split}")
        for p in sorted(folder.iterdir()):
            if p.is_dir() and not p.is_symlink():
                continue
            if not _regular(p):
                if not p.is_dir():
                    skipped.append(p)
                continue
            if p.suffix.lower() in EXTENSIONS:
                items.append((p, label))
    if not items:
        raise DataError(f"imagefolder: no images ({', '.join(EXTENSIONS)}) under {split}")
    return items


#: The most pixels an image may have (width x height, read from its header before decoding): a
#: larger one is refused as a decompression bomb (a small file that decodes to gigabytes).
MAX_IMAGE_PIXELS = 64 * 1024 * 1024


def _decode(path: Path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise DataError(f"imagefolder: {path} is {img.width}x{img.height} pixels, more than "
                                    f"{MAX_IMAGE_PIXELS:,}: refused as a decompression bomb")
                img = img.convert("RGB")
            short = round(size * 8 / 7)
            scale = short / min(img.size)
            img = img.resize((max(short, round(img.width * scale)), max(short, round(img.height * scale))), Image.BILINEAR)
            left, top = (img.width - size) // 2, (img.height - size) // 2
            img = img.crop((left, top, left + size, top + size))
            return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(f"imagefolder: {path} refused as a decompression bomb ({err})") from None
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"imagefolder: cannot decode {path} ({err.__class__.__name__})") from None


def _cache_key(items: list[tuple[Path, int]], size: int) -> str:
    h = hashlib.sha256(str(size).encode())
    for path, label in items:
        st = path.stat()
        h.update(f"{path}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _load_split(items: list[tuple[Path, int]], size: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([_decode(p, size) for p, _ in items])
    return x, np.array([label for _, label in items], dtype=np.int64)


@register_dataset("imagefolder", kind="image", description="class-per-folder image tree (train/, val/), e.g. ImageNet-100")
def load_imagefolder(spec) -> RawData:
    if spec.data_dir is None:
        raise DataError("imagefolder needs data_dir: a folder with train/ and val/, one subfolder per class")
    size = spec.image_size or DEFAULT_SIZE
    train_dir, test_dir = _split_dirs(Path(spec.data_dir).expanduser())
    classes = _class_dirs(train_dir)
    if len(classes) < 2:
        raise DataError(f"imagefolder: {train_dir} has {len(classes)} class folders; need at least 2")
    skipped: list[Path] = []
    train, test = _files(train_dir, classes, skipped), _files(test_dir, classes, skipped)
    if skipped:
        fingerprint.note_skipped(len(skipped), "not a regular file (FIFO, socket or device)")
        print(f"prunebench: note: imagefolder: skipped {len(skipped)} file(s) that are not regular files "
              f"(FIFO, socket or device), e.g. {skipped[0]}", file=sys.stderr)
    path = cache_dir() / "imagefolder" / f"{_cache_key(train + test, size)}.npz"
    fingerprint.ignore(path)  # derived from the images below, which are the data
    for p, _ in train + test:
        fingerprint.note_read(p)
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            arrays = [z[k] for k in ("train_x", "train_y", "test_x", "test_y")]
    else:
        arrays = [*_load_split(train, size), *_load_split(test, size)]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, train_x=arrays[0], train_y=arrays[1], test_x=arrays[2], test_y=arrays[3])
        tmp.replace(path)
    tx, ty, vx, vy = (torch.from_numpy(a) for a in arrays)
    return RawData("imagefolder", "image", len(classes), tx, ty, vx, vy)
