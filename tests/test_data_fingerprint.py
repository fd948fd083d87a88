"""Data fingerprints (issue 15, item 4): every run records the files its data came from (names, sizes,
sampled content hashes) and a hash of the tensors loaded; resuming a study whose data changed stops
with one line naming the data set, unless --accept-data-change (recorded)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from prunebench.cli import main
from prunebench.config import DataSpec
from prunebench.data import fingerprint, load_data
from prunebench.study import Store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FILES = {"train-images-idx3-ubyte": (96, 28, 28), "train-labels-idx1-ubyte": (96,),
         "t10k-images-idx3-ubyte": (32, 28, 28), "t10k-labels-idx1-ubyte": (32,)}


def write_idx(folder, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, shape in FILES.items():
        arr = rng.integers(0, 10 if len(shape) == 1 else 256, shape).astype(np.uint8)
        header = bytes([0, 0, 8, len(shape)]) + b"".join(int(d).to_bytes(4, "big") for d in shape)
        (folder / name).write_bytes(header + arr.tobytes())


def study(data_dir):
    return {
        "name": "fp", "data": {"name": "mnist", "data_dir": str(data_dir)},
        "model": {"name": "mlp", "args": {"depth": 2, "width": 8}},
        "base": {"epochs": 1, "lr_schedule": "0:0.005", "batch_size": 32},
        "retrain": {"epochs": 1, "lr_schedule": "0:0.005"},
        "arms": [{"name": "l1", "criterion": "l1"}], "ratios": [0.5], "seeds": [0], "reference": "l1",
        "jsv_samples": 4,
    }


def cli(argv, capsys):
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture
def finished(tmp_path, capsys, tmp_cache):
    write_idx(tmp_path / "data")
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study(tmp_path / "data")))
    code, err = cli(["run", path, "--out", tmp_path / "out", "--no-progress"], capsys)
    assert code == 0, err
    return path, tmp_path / "out"


def test_load_data_fingerprints_the_files_it_read_and_the_tensors(tmp_path, tmp_cache):
    write_idx(tmp_path / "d")
    with fingerprint.collect() as got:
        load_data(DataSpec(name="mnist", data_dir=str(tmp_path / "d")))
    (fp,) = got
    assert fp["dataset"] == "mnist"
    assert [(f["root"], f["name"], f["size"]) for f in fp["files"]] == sorted(
        ("data_dir", name, 4 + 4 * len(shape) + int(np.prod(shape))) for name, shape in FILES.items())
    assert all(f["hash"] for f in fp["files"])
    # The same files elsewhere: the same fingerprint (data_dir only locates them) ...
    shutil.copytree(tmp_path / "d", tmp_path / "e")
    with fingerprint.collect() as again:
        load_data(DataSpec(name="mnist", data_dir=str(tmp_path / "e")))
    assert again[0]["digest"] == fp["digest"] and fingerprint.recheck(fp, str(tmp_path / "e")) == []
    # ... other pixels of the same size: another tensor hash, and the file is named as changed.
    write_idx(tmp_path / "e", seed=1)
    assert fingerprint.recheck(fp, str(tmp_path / "e")) == [f"{name} has other content" for name in sorted(FILES)]
    with fingerprint.collect() as other:
        load_data(DataSpec(name="mnist", data_dir=str(tmp_path / "e")))
    assert other[0]["tensors"] != fp["tensors"]


def test_every_run_records_its_data_fingerprint(finished):
    _, out = finished
    store = Store.open(out)
    rows = store.rows()
    assert len(rows) == 2
    for row in rows:
        (fp,) = row["provenance"]["data"]
        assert fp["dataset"] == "mnist" and len(fp["files"]) == 4


def test_resume_on_changed_data_stops_in_one_line_unless_accepted(finished, tmp_path, capsys):
    path, out = finished
    before = (out / "study.sqlite").read_bytes()
    write_idx(tmp_path / "data", seed=1)  # same names, same sizes, other content
    code, err = cli(["run", path, "--out", out, "--no-progress"], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "data set 'mnist' changed" in err and "t10k-images-idx3-ubyte has other content" in err
    assert "--accept-data-change" in err
    assert (out / "study.sqlite").read_bytes() == before
    code, err = cli(["run", path, "--out", out, "--no-progress", "--accept-data-change"], capsys)
    assert code == 0, err
    log = Store.open(out).get_meta("data_changes")
    assert len(log) == 1 and "t10k-labels-idx1-ubyte has other content" in log[0]["changes"]["mnist"]
    code, err = cli(["run", path, "--out", out, "--no-progress"], capsys)  # accepted once: not asked again
    assert code == 0, err


def test_resume_from_a_copy_of_the_same_data_elsewhere_goes_on(finished, tmp_path, capsys):
    path, out = finished
    shutil.copytree(tmp_path / "data", tmp_path / "moved")
    shutil.rmtree(tmp_path / "data")
    path.write_text(yaml.safe_dump(study(tmp_path / "moved")))
    code, err = cli(["run", path, "--out", out, "--no-progress"], capsys)
    assert code == 0, err
    assert Store.open(out).counts()["done"] == 2
