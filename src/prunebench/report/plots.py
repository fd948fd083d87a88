"""Figures of a study report (matplotlib, object API on an Agg canvas: pyplot and the global backend
are never touched, so importing this module cannot change a user's matplotlib setup).

Each plot function returns a Figure, or a string saying why it was skipped (data absent).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .aggregate import Aggregate, paper_numbers, ratio_key

DPI = 110
# More LR changes than this in one run means a continuous schedule (cosine): not marked as decays.
MAX_MARKED_DECAYS = 8


@dataclass(frozen=True)
class FigureInfo:
    name: str  # file stem
    title: str
    path: Path | None  # None when skipped
    note: str | None = None  # why it was skipped


def mpl_text(text: str) -> str:
    """A name as matplotlib shows it literally: ``$`` would start mathtext (a parse error in the report
    for ``$x$``-like names), a leading ``_`` would drop the entry from the legend."""
    text = str(text).replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def _new_figure(ncols: int = 1, nrows: int = 1, width: float = 4.4, height: float = 3.4):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _colors(arms: Sequence[str]) -> dict[str, object]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {arm: cmap(i % 10) for i, arm in enumerate(arms)}


def _done(rows: Sequence[dict], arm: str, ratio: float) -> list[dict]:
    return [r for r in rows if r["arm"] == arm and ratio_key(r["ratio"]) == ratio and r.get("status") == "done"]


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _series(runs: list[dict], key: str, scale: float, start_key: str | None = None) -> tuple[list[int], list[float], list[float]]:
    """Per-epoch mean and sample std of history[key] over runs (epochs aligned by number); with
    ``start_key``, the run's value before the first epoch (e.g. JSV right after pruning) is epoch 0."""
    by_epoch: dict[int, list[float]] = {}
    for run in runs:
        if start_key is not None and _finite(run.get(start_key)):
            by_epoch.setdefault(0, []).append(float(run[start_key]) * scale)
        for h in run.get("history") or []:
            if _finite(h.get(key)) and "epoch" in h:
                by_epoch.setdefault(int(h["epoch"]), []).append(float(h[key]) * scale)
    epochs = sorted(by_epoch)
    means = [math.fsum(by_epoch[e]) / len(by_epoch[e]) for e in epochs]
    stds = [statistics.stdev(by_epoch[e]) if len(by_epoch[e]) > 1 else 0.0 for e in epochs]
    return epochs, means, stds


def lr_decay_epochs(history: Sequence[dict]) -> list[int]:
    """Epochs whose LR differs from the previous epoch's (a step schedule's stage boundaries)."""
    out, prev = [], None
    for h in history:
        lr = h.get("lr")
        if _finite(lr) and prev is not None and lr != prev:
            out.append(int(h["epoch"]))
        prev = lr if _finite(lr) else prev
    return out if len(out) <= MAX_MARKED_DECAYS else []


def _panel_grid(n: int) -> tuple[int, int]:
    ncols = min(3, max(n, 1))
    return ncols, math.ceil(max(n, 1) / ncols)


def _curves(agg: Aggregate, rows: Sequence[dict], key: str, scale: float, ylabel: str, title: str,
            log: bool = False, start_key: str | None = None):
    have = any(_finite(h.get(key)) for r in rows if r.get("status") == "done" for h in r.get("history") or [])
    if not have:
        return f"no per-epoch '{key}' recorded in any finished run's history"
    from matplotlib.lines import Line2D

    ncols, nrows = _panel_grid(len(agg.ratios))
    fig, axes = _new_figure(ncols, nrows)
    colors = _colors(agg.arms)
    for ax, ratio in zip(axes, agg.ratios):
        lows = []
        for arm in agg.arms:
            runs = _done(rows, arm, ratio)
            epochs, means, stds = _series(runs, key, scale, start_key)
            if not epochs:
                continue
            lows.append(min(m - s for m, s in zip(means, stds)))
            c = colors[arm]
            ax.plot(epochs, means, color=c, label=mpl_text(f"{arm} (n={len(runs)})"))
            ax.fill_between(epochs, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                            color=c, alpha=0.2, linewidth=0)
            for e in lr_decay_epochs(runs[0].get("history") or []):
                ax.axvline(e, color=c, linestyle=":", linewidth=1)
        if log and lows and min(lows) > 0:  # JSV spans decades across ratios; a band touching 0 cannot be logged
            ax.set_yscale("log")
        ax.set_title(f"pruning ratio {ratio:g}")
        ax.set_xlabel("retraining epoch")
        ax.set_ylabel(ylabel + (" (log scale)" if ax.get_yscale() == "log" else ""))
        handles, labels = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], color="grey", linestyle=":"))
        labels.append("LR decay")
        ax.legend(handles, labels, fontsize="small")
    for ax in axes[len(agg.ratios):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def plot_accuracy_curves(agg, rows, paper=None):
    return _curves(agg, rows, "test_acc", 100.0, "test accuracy (%)",
                   "Test accuracy during retraining (mean ± std over seeds)")


def plot_jsv_curves(agg, rows, paper=None):
    return _curves(agg, rows, "jsv_mean", 1.0, "mean JSV (Jacobian singular value)",
                   "Mean JSV (epoch 0: right after pruning)",
                   log=True, start_key="jsv_mean_start")


def _bar_panel(ax, agg: Aggregate, key: str, colors) -> bool:
    width = 0.8 / max(len(agg.arms), 1)
    drawn = False
    for i, arm in enumerate(agg.arms):
        xs, ys, es = [], [], []
        for j, ratio in enumerate(agg.ratios):
            g = agg.get(arm, ratio)
            st = g.stat(key) if g else None
            if st and st.mean is not None:
                xs.append(j + (i - (len(agg.arms) - 1) / 2) * width)
                ys.append(st.mean * 100)
                es.append((st.std or 0.0) * 100)
        if xs:
            bars = ax.bar(xs, ys, width, yerr=es, capsize=3, color=colors[arm], label=mpl_text(arm))
            ax.bar_label(bars, fmt="%.1f", fontsize=7, label_type="center", color="white")
            drawn = True
    ax.set_xticks(range(len(agg.ratios)), [f"{r:g}" for r in agg.ratios])
    ax.set_xlabel("pruning ratio")
    return drawn


def plot_ta_bars(agg, rows, paper=None):
    keys = [k for k in ("ta_train", "ta_test") if any(g.stat(k).n for g in agg.groups.values())]
    if not keys:
        return "no trainability accuracy (TA) recorded in any finished run"
    fig, axes = _new_figure(len(keys), 1, width=5.5)
    colors = _colors(agg.arms)
    for ax, key in zip(axes, keys):
        _bar_panel(ax, agg, key, colors)
        which = "training" if key == "ta_train" else "test"
        ax.set_ylabel(f"TA, {which} accuracy (%)")
        ax.set_title(f"Trainability accuracy ({which} accuracy, first LR stage)")
        ax.legend(fontsize="small")
    return fig


def _one_ratio(agg: Aggregate) -> bool:
    """A study at a single pruning ratio: its comparison plots put the arms side by side on the x axis
    (at the ratio itself they would all be drawn at one x, on top of each other)."""
    return len(agg.ratios) == 1


def _arm_axis(ax, arms: Sequence[str], ratio: float) -> None:
    ax.set_xticks(range(len(arms)), [mpl_text(a) for a in arms], rotation=20, ha="right")
    ax.set_xlim(-0.6, len(arms) - 0.4)
    ax.set_xlabel(f"arm (all at pruning ratio {ratio:g})")


def plot_accuracy_vs_ratio(agg, rows, paper=None):
    if not any(g.stat("test_acc").n for g in agg.groups.values()):
        return "no finished run with a final test accuracy"
    fig, (ax,) = _new_figure(1, 1, width=6.0, height=4.2)
    colors = _colors(agg.arms)
    one = _one_ratio(agg)
    for i, arm in enumerate(agg.arms):
        pts = [(r, g.stat("test_acc")) for r in agg.ratios if (g := agg.get(arm, r)) and g.stat("test_acc").n]
        if pts:
            ax.errorbar([i if one else p[0] for p in pts], [p[1].mean * 100 for p in pts],
                        yerr=[(p[1].std or 0.0) * 100 for p in pts], color=colors[arm], marker="o",
                        capsize=3, label=mpl_text(arm))
        published = paper_numbers(paper, arm)
        if one:  # only the published number at the study's ratio has a place on the arm axis
            published = {r: v for r, v in published.items() if r == agg.ratios[0]}
        if published:
            xs = sorted(published)
            ax.plot([i] * len(xs) if one else xs, [published[x] for x in xs], color=colors[arm],
                    linestyle="--", marker="x", label=mpl_text(f"paper: {arm}"))
    if one:
        _arm_axis(ax, agg.arms, agg.ratios[0])
        ax.set_title(f"Final test accuracy per arm at pruning ratio {agg.ratios[0]:g} (mean ± std)")
    else:
        ax.set_xlabel("pruning ratio (fraction of filters removed)")
        ax.set_title("Final test accuracy vs pruning ratio (mean ± std)")
    ax.set_ylabel("final test accuracy (%)")
    ax.legend(fontsize="small")
    return fig


def plot_vs_reference(agg, rows, paper=None):
    """Each arm's mean difference from its reference (the study's, or its group's) with the 95% CI
    of the test used (paired over seeds where the arms share base models, else Welch)."""
    ref = agg.reference
    fig, (ax,) = _new_figure(1, 1, width=6.0, height=4.2)
    colors = _colors(agg.arms)
    one = _one_ratio(agg)
    drawn: list[str] = []  # the arms drawn (at one ratio, each at its own x: its place in this list)
    for arm in agg.arms:
        xs, ys, lo, hi, sig = [], [], [], [], []
        for r in agg.ratios:
            g = agg.get(arm, r)
            test = g.comparison if g else None
            if test is None or test.diff is None:
                continue
            xs.append(len(drawn) if one else r)
            ys.append(test.diff * 100)
            ci = test.ci or (test.diff, test.diff)
            lo.append((test.diff - ci[0]) * 100)
            hi.append((ci[1] - test.diff) * 100)
            sig.append(test.significant)
        if xs:
            drawn.append(arm)
            label = arm if not agg.references else f"{arm} − {agg.reference_of(arm)}"
            ax.errorbar(xs, ys, yerr=[lo, hi], color=colors[arm], capsize=3, label=mpl_text(label),
                        marker="o" if one else None)  # one point per arm: no line shows its mean
            ax.scatter([x for x, s in zip(xs, sig) if s], [y for y, s in zip(ys, sig) if s],
                       color=colors[arm], s=60, zorder=3, marker="*")
    if not drawn:
        return f"no arm shares a ratio with finished runs of the reference arm '{ref}'"
    ax.axhline(0.0, color="black", linewidth=0.8)
    if one:
        _arm_axis(ax, drawn, agg.ratios[0])
    else:
        ax.set_xlabel("pruning ratio (fraction of filters removed)")
    what = "its group's reference" if agg.references else f"'{mpl_text(ref)}'"
    ax.set_ylabel(f"accuracy − {'reference' if agg.references else mpl_text(ref)} (percentage points)")
    ax.set_title(f"Each arm vs {what} (mean difference, 95% CI; ★ p < 0.05)")
    ax.legend(fontsize="small")
    return fig


PLOTS: tuple[tuple[str, str, Callable], ...] = (
    ("accuracy_curves", "Test accuracy vs retraining epoch", plot_accuracy_curves),
    ("jsv_curves", "Mean JSV vs retraining epoch", plot_jsv_curves),
    ("ta_bars", "Trainability accuracy per arm and ratio", plot_ta_bars),
    ("accuracy_vs_ratio", "Final accuracy vs pruning ratio", plot_accuracy_vs_ratio),
    ("vs_reference", "Each arm vs the reference arm", plot_vs_reference),
)


def make_figures(agg: Aggregate, rows: Sequence[dict], out_dir: Path, paper: dict | None = None) -> list[FigureInfo]:
    """Write every figure that has data as out_dir/<name>.png; skipped ones carry a note."""
    out_dir.mkdir(parents=True, exist_ok=True)
    infos = []
    for name, title, fn in PLOTS:
        result = fn(agg, rows, paper) if agg.ratios else "no runs"
        if isinstance(result, str):
            infos.append(FigureInfo(name, title, None, result))
            continue
        path = out_dir / f"{name}.png"
        result.savefig(path, dpi=DPI, format="png")
        infos.append(FigureInfo(name, title, path))
    return infos
