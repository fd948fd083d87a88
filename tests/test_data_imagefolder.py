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


# -- files that block or explode (issue 15, item 10) ---------------------------------------------------

def _load_in_thread(spec, seconds=60):
    """load_data in a thread: (finished, result or error); a blocking read shows as not finished."""
    import threading

    out = {}

    def work():
        try:
            out["result"] = load_data(spec)
        except Exception as err:  # noqa: BLE001  (handed to the test)
            out["error"] = err

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive(), out


def test_a_fifo_among_the_images_is_skipped_and_counted(tmp_path, tmp_cache, capsys):
    import os

    from prunebench.data import fingerprint

    root = make_tree(tmp_path / "tree")
    fifo = root / "train" / "cat" / "blocker.png"
    os.mkfifo(fifo)
    spec = DataSpec(name="imagefolder", data_dir=str(root), image_size=8, val_fraction=0.0, normalize=False)
    with fingerprint.collect() as got:
        finished, out = _load_in_thread(spec)
    if not finished:  # unblock the reader so the thread can end
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    assert finished, "the loader blocked on a FIFO"
    assert "error" not in out, out.get("error")
    assert len(out["result"].train_y) == 6  # the 6 real training images, the FIFO left out
    assert "skipped 1 file(s) that are not regular files" in capsys.readouterr().err
    assert got[0]["skipped"] == {"not a regular file (FIFO, socket or device)": 1}


def test_a_self_referencing_symlink_is_refused_in_one_line(tmp_path, tmp_cache):
    root = make_tree(tmp_path / "tree")
    (root / "train" / "dog" / "loop.png").symlink_to("loop.png")
    with pytest.raises(DataError, match=r"loop.png is a symlink that refers to itself") as err:
        load_data(DataSpec(name="imagefolder", data_dir=str(root), image_size=8))
    assert "\n" not in str(err.value)
    (root / "train" / "dog" / "loop.png").unlink()
    (root / "train" / "bird").symlink_to("bird")  # a class folder that is a loop
    with pytest.raises(DataError, match=r"bird is a symlink that refers to itself"):
        load_data(DataSpec(name="imagefolder", data_dir=str(root), image_size=8))


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path, tmp_cache):
    import time

    root = make_tree(tmp_path / "tree")
    Image.new("1", (9000, 8000)).save(root / "val" / "cat" / "bomb.png")  # 72 Mpixel from a few kB
    assert (root / "val" / "cat" / "bomb.png").stat().st_size < 100_000
    start = time.monotonic()
    with pytest.raises(DataError, match=r"bomb.png is 9000x8000 pixels, more than 67,108,864: refused as a decompression bomb"):
        load_data(DataSpec(name="imagefolder", data_dir=str(root), image_size=8))
    assert time.monotonic() - start < 10
