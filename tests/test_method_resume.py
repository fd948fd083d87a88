"""kill -9 during a method's pruning stage, then run again: the same result as an uninterrupted run
(the stage resumes from its epoch checkpoint, the method's state carried in it)."""
import json
import os
import signal
import subprocess
import sys
import time

import yaml

SPEC = {
    "data": {"name": "synthetic", "input_shape": [1, 16], "num_classes": 4, "num_samples": 1500},
    "model": {"name": "cnn1d", "args": {"channels": [8, 8], "kernel_sizes": [3, 3], "strides": [1, 2]}},
    "base": {"train": {"epochs": 2, "lr_schedule": "0:0.1", "batch_size": 64}},
    "prune": {"ratio": 0.5},
    "regime": {"name": "retrain", "epochs": 1, "lr_schedule": "0:0.01"},
    "method": {"name": "greg-2", "args": {"epochs": 16, "delta": 0.05, "interval": 3, "pick_delta": 0.01,
                                          "pick_ceiling": 0.05, "batch_size": 32}},
    "jsv_samples": 0,
}
CLI = "import sys; from prunebench.cli import main; sys.exit(main(sys.argv[1:]))"


def pipeline(config, out, base_root):
    env = {**os.environ, "PRUNEBENCH_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-c", CLI, "pipeline", "--config", str(config), "--out", str(out),
                             "--base-root", str(base_root)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stage_epochs_done(out):
    ckpt = out.parent / f".{out.name}.partial" / "stage" / "checkpoint.safetensors"
    if not ckpt.is_file():
        return 0
    from safetensors import safe_open

    try:
        with safe_open(str(ckpt), "pt") as f:
            return int((f.metadata() or {}).get("epoch", 0))
    except Exception:
        return 0


def strip_times(history):
    return [{k: v for k, v in h.items() if k != "time_s"} for h in history]


def test_kill_9_during_the_pruning_stage_then_resume_matches(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(SPEC))
    base_root = tmp_path / "bases"
    clean = pipeline(config, tmp_path / "clean", base_root)
    assert clean.wait(300) == 0, clean.stderr.read()

    killed = tmp_path / "killed"
    proc = pipeline(config, killed, base_root)
    end = time.monotonic() + 240
    while stage_epochs_done(killed) < 3:
        assert proc.poll() is None, f"finished before the kill: {proc.stderr.read()}"
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = stage_epochs_done(killed)
    assert 3 <= done < 16 and not killed.exists()  # killed inside the stage
    again = pipeline(config, killed, base_root)
    assert again.wait(300) == 0, again.stderr.read()

    a, b = (json.loads((d / "result.json").read_text()) for d in (tmp_path / "clean", killed))
    assert strip_times(a["stage"]["history"]) == strip_times(b["stage"]["history"])
    assert a["test_acc"] == b["test_acc"] and a["fairness"] == b["fairness"]
    assert (tmp_path / "clean" / "weights.safetensors").read_bytes() == (killed / "weights.safetensors").read_bytes()
    assert json.loads((killed / "plan.json").read_text())["layers"] == json.loads((tmp_path / "clean" / "plan.json").read_text())["layers"]
