"""Peak host memory of loading a CIFAR-sized 8-bit image set: float32 storage vs uint8 storage.

Writes a CIFAR-10-format copy of random bytes (5 training batches + a test batch, the real files'
layout; 60,000 x 3x32x32 = 184 MB of pixels by default) into a temporary folder, then loads it in a
fresh process per storage form and reads that process's peak resident memory (``ru_maxrss``) minus
its resident memory just before loading. Both forms are measured side by side in this run; the
printed figure is the peak divided by the uint8 size of the set.

    .venv/bin/python bench/data_memory.py [--per-batch 10000]

``load_data(spec)`` holds every input as float32 (4 bytes a pixel); ``load_data(spec, compact=True)``
(what training runs use) keeps the pixels as uint8 and normalises each batch when it is drawn.
"""
from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys
from prunebench.config import DataSpec
from prunebench.data import load_data
def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
spec = DataSpec(name="cifar10", data_dir=sys.argv[1])
before = rss_kib()
data = load_data(spec, compact=True) if sys.argv[2] == "uint8" else load_data(spec)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
held = sum(t.numel() * t.element_size() for t in (data.train_x, data.val_x, data.test_x))
print(json.dumps({"peak_kib": peak - before, "held_bytes": held, "dtype": str(data.train_x.dtype)}))
"""


def write_cifar(root: Path, per_batch: int) -> int:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        blob = {b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
                b"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)}
        # Protocol 4 stores the pixels as raw bytes, as the real (Python 2) files do; protocol 2 from
        # Python 3 would latin-1-encode them into a stream half as large again.
        (folder / name).write_bytes(pickle.dumps(blob, protocol=4))
    return 6 * per_batch * 3072


def measure(root: Path, form: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(root), form], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-batch", type=int, default=10000, help="examples per batch file (CIFAR: 10000)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        size = write_cifar(Path(tmp), args.per_batch)
        print(f"CIFAR-format set: {6 * args.per_batch} images, {size / 2**20:.0f} MiB as uint8")
        rows = {form: measure(Path(tmp), form) for form in ("float32", "uint8")}
    for form, r in rows.items():
        print(f"  {form:<8} storage: held {r['held_bytes'] / 2**20:6.0f} MiB ({r['dtype']}), "
              f"peak while loading {r['peak_kib'] / 1024:6.0f} MiB = {r['peak_kib'] * 1024 / size:.2f}x the uint8 set")
    ratio = rows["float32"]["peak_kib"] / rows["uint8"]["peak_kib"]
    print(f"peak ratio float32 / uint8 storage: {ratio:.2f}")


if __name__ == "__main__":
    main()
