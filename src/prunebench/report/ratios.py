"""What "pruning ratio" means in a report: which layers a uniform ratio prunes, per model family (the
conventions of pruning/layers.py, paper-notes §6), and the parameter sparsity it gave in this study."""
from __future__ import annotations

from typing import Any, Sequence

#: One sentence per model family: what a uniform filter-pruning ratio p removes.
FAMILY_MEANING: dict[str, str] = {
    "mlp": "the fraction of output units removed from every hidden Linear layer (never the output layer)",
    "cnn1d": "the fraction of filters removed from every conv layer (never the classifier)",
    "lenet": "the fraction of filters removed from every conv layer and of units from every hidden Linear "
             "layer (never the classifier)",
    "vgg": "the fraction of filters removed from every conv layer but the first (never the classifier)",
    "resnet_cifar": "the fraction of filters removed from the first conv of every basic block (never the stem, "
                    "the second conv of a block, the shortcuts or the classifier)",
    "resnet_imagenet": "the fraction of filters removed from the first and second conv of every bottleneck "
                       "(the first conv of every basic block); never the stem, the block's last conv, the "
                       "downsample convs or the classifier",
}
COMMON = ("A layer with n filters loses ceil(p·n) of them (at least one is kept), together with the matching "
          "BatchNorm channel and the next layer's input channels; an arm with its own prune spec (a stage "
          "list, patterns, a preset) follows that spec instead. Sparsity is the fraction of the dense "
          "model's parameters removed.")


def _family(model_name: str) -> str | None:
    from ..models import MODELS, model_info

    return model_info(model_name)["family"] if model_name in MODELS else None


def ratio_lines(meta: dict[str, Any], rows: Sequence[dict]) -> list[str]:
    """One line per model of the study (its family's convention and the measured parameter sparsity
    per ratio), then the common rule."""
    study = meta.get("study") or {}
    models = [str((study.get("model") or {}).get("name") or "")]
    for arm in study.get("arms") or []:
        name = ((arm or {}).get("model") or {}).get("name")
        if name and name not in models:
            models.append(str(name))
    arm_model = {str(a.get("name")): str(((a.get("model") or {}).get("name")) or models[0])
                 for a in study.get("arms") or [] if isinstance(a, dict)}
    out = []
    for model in [m for m in models if m]:
        family = _family(model)
        meaning = FAMILY_MEANING.get(family or "", "see the arm's prune spec")
        sparsity: dict[float, set[float]] = {}
        for r in rows:
            if r.get("status") == "done" and arm_model.get(str(r["arm"]), models[0]) == model and r.get("sparsity") is not None:
                sparsity.setdefault(round(float(r["ratio"]), 6), set()).add(round(float(r["sparsity"]) * 100, 1))
        measured = "; ".join(f"ratio {ratio:g}: {_span(vals)}% of the parameters" for ratio, vals in sorted(sparsity.items()))
        out.append(f"{model} ({family or 'unknown family'}): pruning ratio p = {meaning}."
                   + (f" Parameter sparsity in this study: {measured}." if measured else ""))
    return out + [COMMON] if out else []


def _span(values: set[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.1f}" if lo == hi else f"{lo:.1f}–{hi:.1f}"
