"""Mutation check: break each behaviour a test is named for, in a copy of the code, and make sure the
suite notices (issue 11). Every mutation must make the named tests fail; the script exits 1 if one
survives, or if a mutation no longer applies (the code it targets moved: update the table).

    .venv/bin/python bench/mutation_check.py            # all mutations (about a minute on 2 cores)
    .venv/bin/python bench/mutation_check.py taylor-l1  # one of them

Each mutation replaces one exact piece of source text in a copy of ``src/`` and runs the listed test
files against the copy (``PYTHONPATH`` puts the copy first); the working tree is never touched.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    file: str  # under src/prunebench/
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation("best-epoch", "report the best test epoch instead of the final one", "train/run.py",
             '"test_acc": last.get("test_acc"),',
             '"test_acc": max((h.get("test_acc") or 0) for h in outcome.history) if outcome.history else None,',
             ("tests/test_named_behaviours.py",)),
    Mutation("no-rewind", "weight rewinding skips the reset to the epoch-k weights", "pipeline/run.py",
             "if resolved.fresh or keep_from == resolved.score_epoch:", "if True:",
             ("tests/test_named_behaviours.py",)),
    Mutation("taylor-l1", "Taylor's score replaced by L1", "pruning/criteria.py",
             "per_batch = [_per_filter(w * g.to(torch.float64)).sum(1).pow(2) for g in inp.batch_grads]",
             "per_batch = [_per_filter(w).abs().sum(1) for g in inp.batch_grads]",
             ("tests/test_paper_definitions.py",)),
    Mutation("taylor-sum-first", "Taylor sums gradients over batches before squaring", "pruning/criteria.py",
             "per_batch = [_per_filter(w * g.to(torch.float64)).sum(1).pow(2) for g in inp.batch_grads]",
             "per_batch = [_per_filter(w * sum(inp.batch_grads).to(torch.float64)).sum(1).pow(2)]",
             ("tests/test_paper_definitions.py",)),
    Mutation("l2-as-l1", "L2's score replaced by L1", "pruning/criteria.py",
             "return _per_filter(inp.weight).pow(2).sum(1).sqrt()", "return _per_filter(inp.weight).abs().sum(1)",
             ("tests/test_named_behaviours.py",)),
    Mutation("scratch-inherits", "scratch arms keep the pruned weights (no fresh init)", "pipeline/run.py",
             'apply_reinit(name, model, seed=derive_seed(spec.seed, "reinit"))',
             'apply_reinit("keep" if resolved.fresh else name, model, seed=derive_seed(spec.seed, "reinit"))',
             ("tests/test_named_behaviours.py",)),
    Mutation("scratch-dense", "scratch arms train the dense architecture (wrong widths)", "pipeline/run.py",
             "    reinit = _reinit(spec, resolved, model)\n",
             "    model = __import__(\"copy\").deepcopy(dense) if resolved.fresh else model\n    reinit = _reinit(spec, resolved, model)\n",
             ("tests/test_named_behaviours.py",)),
    Mutation("audit-key", "the audit names the differing columns under another key", "fairness/setups.py",
             '"differs": [c for c in COMPARED if states[c] == "differs"],',
             '"differ": [c for c in COMPARED if states[c] == "differs"], "differs": [],',
             ("tests/test_report_writer.py",)),
    Mutation("dense-macs", "masked layers count dense MACs", "metrics/complexity.py",
             "    if not names:\n        return comp, comp.params, comp.macs\n",
             "    return comp, comp.params, comp.macs\n",
             ("tests/test_paper_definitions.py",)),
    Mutation("base-final", "a PxFy arm's base names the run, not the snapshot", "pipeline/fairness_record.py",
             'return base_id if epoch is None else f"{base_id}@epoch-{epoch}"', "return base_id",
             ("tests/test_paper_definitions.py",)),
    Mutation("converge-on-test", "the convergence check reads the test set", "metrics/trainability.py",
             'if val and all(v is not None for v in val):\n        return "val", [float(v) for v in val]',
             'if True:\n        return "val", [float(h["test_acc"]) for h in history]',
             ("tests/test_paper_definitions.py",)),
    Mutation("total-epochs-tolerant", "total_epochs compared with the relative tolerance", "fairness/columns.py",
             '"total_epochs": "count",', '"total_epochs": "real",', ("tests/test_fairness_setups.py",)),
    Mutation("pool-one-gpu", "every pool worker sees the first GPU", "study/worker.py",
             'os.environ["CUDA_VISIBLE_DEVICES"] = str(slot_gpus[SLOT])', 'os.environ["CUDA_VISIBLE_DEVICES"] = str(slot_gpus[0])',
             ("tests/test_devices.py",)),
    Mutation("auto-is-cpu", "auto never resolves to the GPUs", "devices.py",
             'return "cuda" if gpus > 0 else "cpu"', 'return "cpu"', ("tests/test_devices.py",)),
    Mutation("jsv-tf32", "the JSV measurement runs under the training run's TF32/autocast", "metrics/trainability.py",
             "with eval_mode(model), full_fp32(device):", "with eval_mode(model):", ("tests/test_devices.py",)),
    Mutation("autocast-eval", "bf16 autocast covers evaluation too", "train/loop.py",
             "with precision(spec.deterministic, spec.tf32) as flags:",
             "with precision(spec.deterministic, spec.tf32) as flags, autocast(spec.autocast, device):",
             ("tests/test_devices.py",)),
    Mutation("ray-reuses-gpu-workers", "Ray GPU tasks reuse workers (max_calls unset)", "study/executors.py",
             "ray.remote(max_calls=1)(execute)", "ray.remote(execute)", ("tests/test_study_ray.py",)),
)


def _copy_src(dest: Path) -> Path:
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest / "src"


def check(m: Mutation) -> tuple[str, str]:
    """('caught' | 'SURVIVED' | 'STALE', detail)."""
    with tempfile.TemporaryDirectory(prefix=f"mutant-{m.name}-") as tmp:
        src = _copy_src(Path(tmp))
        path = src / "prunebench" / m.file
        text = path.read_text(encoding="utf-8")
        if text.count(m.old) != 1:
            return "STALE", f"{m.file}: the text to mutate occurs {text.count(m.old)} times (want 1)"
        path.write_text(text.replace(m.old, m.new), encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=str(src), PRUNEBENCH_PROGRESS="0")
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *m.tests]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        last = (proc.stdout.strip().splitlines() or [""])[-1]
        return ("caught" if proc.returncode != 0 else "SURVIVED"), last


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not argv or m.name in argv]
    if argv and len(chosen) != len(argv):
        print(f"unknown mutation(s); valid: {', '.join(m.name for m in MUTATIONS)}", file=sys.stderr)
        return 2
    bad = 0
    for m in chosen:
        verdict, detail = check(m)
        bad += verdict != "caught"
        print(f"{verdict:8s} {m.name:22s} {m.what}  [{detail}]", flush=True)
    print(f"{len(chosen) - bad} of {len(chosen)} mutations caught")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
