"""A small pipeline (a 3-layer MLP on a synthetic 1x16 set, 6 base epochs) shared by the tests of
what printed numbers mean (test_paper_definitions.py) and of named behaviours (test_named_behaviours.py)."""
import json

from prunebench.config import validate
from prunebench.pipeline import PipelineSpec, train_base
from prunebench.pipeline.run import base_dir_for, run_pipeline

SMALL = {
    "data": {"name": "synthetic", "input_shape": [1, 16], "num_classes": 4, "num_samples": 256},
    "model": {"name": "mlp", "args": {"depth": 3, "width": 24, "activation": "relu"}},
    "base": {"train": {"epochs": 6, "lr_schedule": "0:0.1,3:0.01,5:0.001", "batch_size": 64}},
    "prune": {"ratio": 0.5},
    "jsv_samples": 8,
}


def spec_of(**fields):
    data = json.loads(json.dumps(SMALL))
    data.update(fields)
    return validate(PipelineSpec, data)


def run_with_base(spec, tmp_path, name):
    """(base model directory, result) of one pipeline run; the base is trained once per tmp_path."""
    base = base_dir_for(spec, tmp_path)
    if not (base / "result.json").is_file():
        train_base(spec.base_run(), base, set(range(6)), progress=False)
    return base, run_pipeline(spec, tmp_path / name, base_dir=base, progress=False)
