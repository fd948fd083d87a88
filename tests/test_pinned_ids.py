"""Stored results are found by run id: a refactor must not change the id of any existing spec.

The digests below were taken before the plug-in refactor (issue 9) from the built-in study files;
each is the SHA-256 of the sorted, comma-joined run ids of every job (bases and runs) of a study.
"""
import hashlib
from pathlib import Path

import pytest

from prunebench.pipeline.spec import MethodSpec, RegimeSpec
from prunebench.pruning import PruneSpec
from prunebench.study import expand, load_study

STUDIES = Path(__file__).resolve().parent.parent / "studies"

PINNED_STUDIES = {
    "quickstart.yaml": (21, "4330d72746c52aed"),
    "smoke.yaml": (10, "fff38c7873fba50c"),
    "mystery-lr.yaml": (63, "55da793fc1b9a6d2"),
    "mystery-scratch.yaml": (57, "881bbf65d2fc6bfa"),
    "orthp-mlp.yaml": (30, "00ff05f811d3915b"),
    "retraining-regimes.yaml": (69, "d578a80d621f0397"),
    "paper/resnet56-cifar10.yaml": (39, "f2bfd56ae5f7bba9"),
    "pruning-cost.yaml": (18, "25c393149a226143"),
}


@pytest.mark.parametrize("name", sorted(PINNED_STUDIES))
def test_builtin_study_run_ids_are_pinned(name):
    n, digest = PINNED_STUDIES[name]
    expansion = expand(load_study(STUDIES / name), STUDIES / name)
    ids = sorted(j.run_id for j in expansion.jobs)
    assert len(ids) == n
    assert hashlib.sha256(",".join(ids).encode()).hexdigest()[:16] == digest


PINNED_SPECS = [
    (PruneSpec, dict(ratio=0.5), "44136fa355b3"),
    (PruneSpec, dict(ratio=0.7, criterion="magnitude", granularity="weight", scope="global"), "f641bd983558"),
    (PruneSpec, dict(ratio="0-2:0.5,*conv1:0.3", skip=[0]), "443b39b918f5"),
    (RegimeSpec, dict(name="retrain", epochs=10, lr=0.01), "659c6c9d1dfa"),
    (RegimeSpec, dict(name="pxfy", prune_epoch=5, squeeze=True), "4df56fce48d4"),
    (RegimeSpec, dict(name="scratch-b", epochs=4, scratch_b="liu"), "6ba117af296a"),
    (RegimeSpec, dict(name="weight-rewind", rewind_epoch=2, extend=3), "78c429dc1c29"),
    # a method's args are stored (and hashed) with every default written out: changing a default
    # is deliberate and updates these
    (MethodSpec, dict(name="greg-1", args={"epochs": 8}), "5db0fe03fb53"),
    (MethodSpec, dict(name="agp"), "f3a06644a3d3"),
]


@pytest.mark.parametrize("cls,fields,run_id", PINNED_SPECS)
def test_prune_and_regime_spec_ids_are_pinned(cls, fields, run_id):
    assert cls(**fields).spec_hash() == run_id
