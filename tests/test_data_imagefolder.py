import numpy as np
import pytest
from PIL import Image

from prunebench.config import DataSpec
from prunebench.data import load_data
from prunebench.errors import DataError


def make_tree(root, classes=("cat", "dog"), per_class=3, split_names=("train", "val")):
    rng = np.random.default_rng(0)
    for split in split_names:
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                # class 0 dark, class 1 bright; odd sizes exercise the resize + centre crop
                value = 40 if c == 0 else 210
                arr = np.clip(value + rng.integers(-5, 5, size=(20 + i, 30, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(arr).save(folder / f"img{i}.png")
    return root


def test_imagefolder_decodes_crops_labels_and_caches(tmp_path, tmp_cache):
    root = make_tree(tmp_path / "tree")
    spec = DataSpec(name="imagefolder", data_dir=str(root), image_size=8, val_fraction=0.0, normalize=False)
    d = load_data(spec)
    assert d.input_shape == (3, 8, 8) and d.num_classes == 2 and d.kind == "image"
    assert len(d.train_y) == 6 and len(d.test_y) == 6
    dark = d.train_x[d.train_y == 0].mean()
    bright = d.train_x[d.train_y == 1].mean()
    assert dark == pytest.approx(40 / 255, abs=0.03) and bright == pytest.approx(210 / 255, abs=0.03)
    assert len(list((tmp_cache / "imagefolder").glob("*.npz"))) == 1
    again = load_data(spec)  # from the cache
    assert (again.train_x == d.train_x).all()


@pytest.mark.parametrize(
    "setup, words",
    [
        (lambda r: None, "no such directory"),
        (lambda r: (r / "train" / "a").mkdir(parents=True), "needs train/ and val/"),
        (lambda r: make_tree(r, classes=("only",)), "need at least 2"),
    ],
)
def test_imagefolder_errors_say_what_was_expected_where(tmp_path, tmp_cache, setup, words):
    root = tmp_path / "tree"
    setup(root)
    with pytest.raises(DataError, match=words):
        load_data(DataSpec(name="imagefolder", data_dir=str(root)))


def test_a_file_that_is_not_an_image_is_named(tmp_path, tmp_cache):
    root = make_tree(tmp_path / "tree")
    (root / "val" / "dog" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="cannot decode .*broken.jpg"):
        load_data(DataSpec(name="imagefolder", data_dir=str(root)))
