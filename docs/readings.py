"""The readings of docs/studies.md, generated from the stored study reports (issue 11).

Every number in a reading comes from the "All metrics per arm and pruning ratio" table of
``docs/studies/NAME/report.md`` (what ``prunebench report`` wrote for the stored run): means,
sample standard deviations and n per arm and ratio. Each comparison a reading makes states its test:
Welch's t-test from those summaries (``scipy.stats.ttest_ind_from_stats``; the stored standard
deviations have 2 decimals, so a p-value can differ from one on the raw runs in its second digit).
Anything without a test is called a trend.

    .venv/bin/python docs/readings.py           # rewrite the readings in docs/studies.md
    .venv/bin/python docs/readings.py --check   # exit 1 if docs/studies.md is not what the data give
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
STUDIES_MD = HERE / "studies.md"
SIGNIFICANT = 0.05


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.2f}"


def _cell(text: str) -> Stat | None:
    m = re.match(r"\s*([-0-9.]+) ± ([-0-9.]+|n/a)", text)
    if not m:
        return None
    return Stat(float(m.group(1)), float("nan") if m.group(2) == "n/a" else float(m.group(2)), 0)


def load(study: str) -> dict[tuple[str, float], dict[str, Stat]]:
    """(arm, ratio) -> {"test", "ta_train", "jsv_start", "jsv_end"} from the stored report."""
    text = (HERE / "studies" / study / "report.md").read_text(encoding="utf-8")
    table = text.split("**All metrics per arm and pruning ratio**", 1)[1]
    lines = [line for line in table.strip().splitlines()]
    header = [c.strip() for c in lines[0].strip().strip("|").split("|")]
    columns = {"test": "test acc (%)", "ta_train": "TA train (%)", "jsv_start": "JSV start", "jsv_end": "JSV end"}
    out = {}
    for line in lines[2:]:  # after the header and the alignment row
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        arm, ratio = cells[0].rsplit(" @ ", 1)
        n = int(cells[header.index("n done")])
        stats = {}
        for key, idx in ((k, header.index(name)) for k, name in columns.items()):
            s = _cell(cells[idx])
            if s is not None:
                stats[key] = Stat(s.mean, s.std, n)
        out[(arm, float(ratio))] = stats
    return out


def welch(a: Stat, b: Stat) -> float:
    from scipy.stats import ttest_ind_from_stats

    return float(ttest_ind_from_stats(a.mean, a.std, a.n, b.mean, b.std, b.n, equal_var=False).pvalue)


def test_of(a: Stat, b: Stat) -> tuple[str, float]:
    """('p = 0.013', p) by Welch's t-test."""
    p = welch(a, b)
    return ("p < 0.001" if p < 0.001 else f"p = {p:.2g}"), p


def cmp(a: Stat, b: Stat) -> str:
    """How a reading cites a comparison: its test, and whether it is significant."""
    text, p = test_of(a, b)
    n = f"n = {a.n}" if a.n == b.n else f"n = {a.n} vs {b.n}"
    verdict = "significant" if p < SIGNIFICANT else "not significant"
    return f"Welch {text}, {n}; {verdict}"


# --------------------------------------------------------------------------------------- readings


def quickstart(d) -> str:
    t = {(a, r): d[(a, r)]["test"] for (a, r) in d}
    l1, rnd, sc = ("l1", "random", "scratch-e")
    gap5 = max(t[(x, 0.5)].mean for x in (l1, rnd, sc)) - min(t[(x, 0.5)].mean for x in (l1, rnd, sc))
    return (
        f"**Reading.** At ratio 0.5 the three arms are within {gap5:.1f} points of each other (L1 {t[(l1, 0.5)]}, "
        f"random {t[(rnd, 0.5)]}, scratch-e {t[(sc, 0.5)]}; L1 vs random {cmp(t[(l1, 0.5)], t[(rnd, 0.5)])}; "
        f"L1 vs scratch-e {cmp(t[(l1, 0.5)], t[(sc, 0.5)])}). At 0.8 the 15-epoch retraining from LR 0.01 leaves "
        f"L1 {t[(l1, 0.8)].mean - t[(rnd, 0.8)].mean:.1f} points ahead of random ({cmp(t[(l1, 0.8)], t[(rnd, 0.8)])}), "
        f"and scratch-e, trained 45 epochs from the dense schedule's LR 0.1, {t[(sc, 0.8)].mean - t[(l1, 0.8)].mean:.1f} "
        f"points above L1 ({cmp(t[(sc, 0.8)], t[(l1, 0.8)])}). So \"scratch beats pruning\" is a trend on this budget, "
        "not a result, and it is the kind of comparison the paper warns about: the arms differ in base model, "
        "epochs and LR (the audit calls it SX-A, not S3.2); mystery-lr shows what a larger retraining LR or more "
        "epochs does to the pruning arms."
    )


def mystery_lr(d) -> str:
    t = {(a, r): d[(a, r)]["test"] for (a, r) in d}
    ref, small, ext = "lr0.01-step", "lr0.001-step", "lr0.001-step+30"
    ratios = (0.3, 0.5, 0.7, 0.9)
    gaps = "; ".join(f"{t[(ref, r)].mean - t[(small, r)].mean:.1f} at {r:g} ({cmp(t[(ref, r)], t[(small, r)])})"
                     for r in ratios)
    jsv = ", ".join(f"{d[(ref, r)]['jsv_start'].mean:.2f}" for r in ratios)
    pairs = [(lr, r) for lr in ("0.01", "0.001") for r in ratios]
    ps = {(lr, r): welch(t[(f"lr{lr}-step", r)], t[(f"lr{lr}-cos", r)]) for lr, r in pairs}
    worst = min(ps, key=ps.get)
    n_sig = sum(p < SIGNIFICANT for p in ps.values())
    lr_w, r_w = worst
    return (
        "**Reading.** The paper's M1, measured here: the gap between retraining LR 1e-2 and 1e-3 (step, 30 epochs) "
        f"grows with the pruning ratio: {gaps}. The mean JSV right after pruning falls as the ratio grows "
        f"({jsv} at 0.3 / 0.5 / 0.7 / 0.9; a trend, not tested), in line with the paper's explanation: the more is "
        "pruned, the more damaged the trainability, the further the small LR falls behind. Giving the small LR "
        f"30 more epochs in its first stage narrows the gap but does not close it: at 0.7 it reaches "
        f"{t[(ext, 0.7)]} against the reference's {t[(ref, 0.7)]}, still below it ({cmp(t[(ext, 0.7)], t[(ref, 0.7)])}), "
        f"up from {t[(small, 0.7)]} without the extension ({cmp(t[(ext, 0.7)], t[(small, 0.7)])}); at 0.9 it reaches "
        f"{t[(ext, 0.9)]} against {t[(ref, 0.9)]} ({cmp(t[(ext, 0.9)], t[(ref, 0.9)])}), up from {t[(small, 0.9)]} "
        f"({cmp(t[(ext, 0.9)], t[(small, 0.9)])}). Step vs cosine at the same initial LR: {n_sig} of the "
        f"{len(ps)} comparisons are significant; the largest difference is at ratio {r_w:g}, LR {lr_w}: "
        f"{t[(f'lr{lr_w}-step', r_w)]} (step) vs {t[(f'lr{lr_w}-cos', r_w)]} (cosine), "
        f"{cmp(t[(f'lr{lr_w}-step', r_w)], t[(f'lr{lr_w}-cos', r_w)])}. With 3 seeds that is no evidence of a "
        "difference, which is not evidence of none. Caveats: TA is over each arm's own first LR stage (15, 20 or "
        "50 epochs), so it compares only arms with the same schedule; at 0.9 (a 1,537-parameter network) seeds "
        "spread by several points."
    )


def mystery_scratch(d, table4: dict[str, str]) -> str:
    t = {(a, r): d[(a, r)]["test"] for (a, r) in d}
    s = "scratch"
    ratios = (0.5, 0.7, 0.9)
    p10 = "; ".join(f"{t[('P10F30', r)]} vs {t[(s, r)]} at {r:g} ({cmp(t[('P10F30', r)], t[(s, r)])})" for r in ratios)
    late = "; ".join(f"{t[('P30F10', r)]} at {r:g} ({cmp(t[('P30F10', r)], t[(s, r)])})" for r in ratios)
    raised = "; ".join(f"{t[('P30F10-lr0.01', r)]} vs {t[('P30F10', r)]} at {r:g} "
                       f"({cmp(t[('P30F10-lr0.01', r)], t[('P30F10', r)])})" for r in ratios)
    sxb = "; ".join(f"{t[('P20kF20-sxb', r)]} at {r:g} ({cmp(t[('P20kF20-sxb', r)], t[(s, r)])})" for r in ratios)
    groups: dict[str, list[str]] = {}
    for arm, label in table4.items():
        groups.setdefault(label, []).append(arm)
    labels = "; ".join(f"{label}: {', '.join(arms)}" for label, arms in sorted(groups.items()))
    return (
        "**Reading.** Whether pruning \"beats\" scratch depends on the setup and the ratio, as the paper argues. "
        f"Pruning early (P10F30) against scratch: {p10}. Pruning late and retraining at the schedule's 1e-3 "
        f"(P30F10) against scratch: {late}. Raising P30F10's retraining LR to 1e-2 (SX-A) against P30F10: "
        f"{raised} -- M1 inside M2: much of \"scratch matches pruning\" here is a retraining-LR effect. The SX-B arm "
        "prunes very early (epoch 20/k) and then retrains at the tail schedule's 1e-2 / 1e-3 rather than scratch's "
        f"0.1; against scratch: {sxb}: an equal-compute comparison that also differs in LR. The audit "
        f"(`prunebench audit`) gives each comparison with scratch the label of the paper's Table 4: {labels}. "
        "The PxFy arms follow scratch's overall LR schedule epoch for epoch (relation SO, Table 4's loose "
        "\"S4.2\"), yet none of them meets Table 2's S2: each prunes a different snapshot of the dense run "
        "(its `base` is RUNID@epoch-x), and scratch has no base model at all."
    )


def orthp_mlp(d) -> str:
    g = {a: d[(a, 0.8)] for (a, _) in d}
    lin, lin3, lino, lin3o = "linear-lr0.01", "linear-lr0.001", "linear-lr0.01-orthp", "linear-lr0.001-orthp"
    relu, relu3, reluo, relu3o = "relu-lr0.01", "relu-lr0.001", "relu-lr0.01-orthp", "relu-lr0.001-orthp"
    return (
        "**Reading.** Pruning 80% of the units crushes the mean JSV of the linear MLP "
        f"({g[lin]['jsv_start'].mean:.4f} right after pruning); OrthP restores it to {g[lino]['jsv_start'].mean:.4f}, "
        "every singular value 1 as the theory says for a pruned linear network (a measurement, exact up to float "
        "rounding; no test needed). Trainability accuracy compares only runs with the same LR schedule: at LR 1e-3 "
        f"(first stage 45 epochs) OrthP raises the linear MLP's TA (train) from {g[lin3]['ta_train']} to "
        f"{g[lin3o]['ta_train']} ({cmp(g[lin3o]['ta_train'], g[lin3]['ta_train'])}); at LR 1e-2 (first stage 30 "
        f"epochs) from {g[lin]['ta_train']} to {g[lino]['ta_train']} ({cmp(g[lino]['ta_train'], g[lin]['ta_train'])}). "
        f"Final test accuracy moves less: at LR 1e-3 {g[lin3]['test']} without OrthP and {g[lin3o]['test']} with it "
        f"({cmp(g[lin3o]['test'], g[lin3]['test'])}, so a trend at most), at LR 1e-2 {g[lin]['test']} and {g[lino]['test']} "
        f"({cmp(g[lino]['test'], g[lin]['test'])}). A linear model on MNIST-1D is a weak classifier (~30% whatever "
        "we do), so the trainability effect is in TA and the learning curves. For the ReLU MLP the picture is mixed, "
        "as the paper notes for non-linear networks: OrthP with the ReLU gain √2 lands the JSV near "
        f"{g[reluo]['jsv_start'].mean:.2f}, not 1; final accuracy with vs without OrthP is {g[reluo]['test']} vs "
        f"{g[relu]['test']} at LR 1e-2 ({cmp(g[reluo]['test'], g[relu]['test'])}) and {g[relu3o]['test']} vs "
        f"{g[relu3]['test']} at 1e-3 ({cmp(g[relu3o]['test'], g[relu3]['test'])})."
    )


def sanity_lines(study: str) -> dict[float, str]:
    """ratio -> the test of the report's "Sanity checks" line (paired over seeds: report/paired.py)."""
    text = (HERE / "studies" / study / "report.md").read_text(encoding="utf-8")
    out = {}
    for m in re.finditer(r"at ratio ([0-9.]+): [^?]*\? ([^:]+): ([-+0-9.]+) pts \[[^]]*\]; paired n=(\d+): "
                         r"t-test p=([^,]+), sign-flip p=([0-9.]+)", text):
        out[float(m.group(1))] = (f"{m.group(2)}: {m.group(3)} points, paired t-test p = {m.group(5)}, "
                                  f"sign-flip p = {m.group(6)}, n = {m.group(4)}")
    return out


def retraining_regimes(d, sanity: dict[float, str]) -> str:
    t = {(a, r): d[(a, r)]["test"] for (a, r) in d}
    regimes = ("fine-tune", "retrain", "lr-rewind", "clr", "allr")
    ratios = (0.5, 0.8)
    gaps = {r: "; ".join(f"{g} {t[(f'l1-{g}', r)].mean - t[(f'random-{g}', r)].mean:+.1f} "
                         f"({cmp(t[(f'l1-{g}', r)], t[(f'random-{g}', r)])})" for g in regimes) for r in ratios}
    best = {r: max(regimes, key=lambda g: t[(f"random-{g}", r)].mean) for r in ratios}
    rival = "; ".join(f"at {r:g}, random under {best[r]} {t[(f'random-{best[r]}', r)]} vs L1 fine-tuned "
                      f"{t[('l1-fine-tune', r)]} ({cmp(t[(f'random-{best[r]}', r)], t[('l1-fine-tune', r)])})"
                      for r in ratios)
    ft = "; ".join(f"{t[('l1-fine-tune', r)]} fine-tuned vs {t[('l1-clr', r)]} under CLR at {r:g} "
                   f"({cmp(t[('l1-clr', r)], t[('l1-fine-tune', r)])})" for r in ratios)
    allr = "; ".join(f"{t[('l1-allr', r)]} vs {t[('l1-clr', r)]} at {r:g} ({cmp(t[('l1-allr', r)], t[('l1-clr', r)])})"
                     for r in ratios)
    checks = "; ".join(f"at {r:g}, {sanity[r]}" for r in ratios if r in sanity) or "not in the stored report"
    diff = {(g, r): t[(f"l1-{g}", r)].mean - t[(f"random-{g}", r)].mean for g in regimes for r in ratios}
    sig = {r: [g for g in regimes if welch(t[(f"l1-{g}", r)], t[(f"random-{g}", r)]) < SIGNIFICANT] for r in ratios}
    ahead = {r: sum(diff[(g, r)] > 0 for g in regimes) for r in ratios}
    good = [g for g in regimes if g != "fine-tune"]
    narrower = [g for g in good if diff[(g, 0.8)] < diff[("fine-tune", 0.8)]]
    answer = (
        f"In short: L1's mean is above random's under {ahead[0.5]} of the 5 regimes at 0.5 and {ahead[0.8]} of 5 at 0.8; "
        f"the gap is significant under {', '.join(sig[0.5]) or 'none'} at 0.5 and {', '.join(sig[0.8]) or 'none'} at 0.8. "
        f"At 0.8 the gap under {', '.join(narrower) or 'none'} is narrower than under fine-tuning "
        f"({diff[('fine-tune', 0.8)]:.1f} points), a trend (the difference of differences is not tested). So where a "
        f"gap is significant (under {', '.join(sorted(set(sig[0.5]) | set(sig[0.8]))) or 'no regime'}) random pruning "
        "does not match L1 even under the same good schedule; elsewhere the gaps are not significant, which with "
        f"3 seeds is no evidence either way (at 0.5 the largest is {max(diff[(g, 0.5)] for g in regimes):.1f} points). "
    )
    return (
        "**Reading.** Le & Hua's question, asked on this small benchmark: L1 minus random (test accuracy, points) "
        f"under each regime at ratio 0.5: {gaps[0.5]}; at 0.8: {gaps[0.8]}. {answer}Random pruning under its best "
        f"schedule against L1 with plain fine-tuning: {rival}. The schedule itself: L1 "
        f"{ft}; ALLR against CLR for L1: {allr}. The sanity check of L1 under CLR (its per-layer widths, random "
        f"filters; checked arm minus sanity arm, paired by seed): {checks}. With uniform per-layer ratios the "
        "widths are the ratio spec's, so that sanity arm is the random arm under CLR drawn again: it asks only "
        "whether L1's choice of filters, not its widths, matters. Caveats: 3 seeds, 10 retraining epochs on "
        "MNIST-1D; differences that are not significant are no evidence of a difference, which is not evidence "
        "of none; CLR and ALLR warm up over 10% of the retraining iterations, fine-tuning and the step "
        "schedules do not, and every arm here is S3.1 with the others (same epochs, other LR schedules)."
    )


def table4_labels(study: str) -> dict[str, str]:
    """arm -> Table 4 label, from the fairness section of the stored report."""
    text = (HERE / "studies" / study / "report.md").read_text(encoding="utf-8")
    out = {}
    for m in re.finditer(r"(\S+) vs (\S+) \([^)]*?Table 4 would call it ([^)]+)\)", text):
        out[m.group(2)] = m.group(3)
    return out


def readings() -> dict[str, str]:
    return {
        "quickstart": quickstart(load("quickstart")),
        "mystery-lr": mystery_lr(load("mystery-lr")),
        "mystery-scratch": mystery_scratch(load("mystery-scratch"), table4_labels("mystery-scratch")),
        "orthp-mlp": orthp_mlp(load("orthp-mlp")),
        "retraining-regimes": retraining_regimes(load("retraining-regimes"), sanity_lines("retraining-regimes")),
    }


def render(text: str) -> str:
    for name, reading in readings().items():
        start = f"<!-- reading: {name} (generated by docs/readings.py from docs/studies/{name}/report.md) -->"
        end = "<!-- /reading -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if not pattern.search(text):
            raise SystemExit(f"docs/studies.md has no reading block for {name!r} ({start})")
        text = pattern.sub(lambda _m: f"{start}\n{reading}\n{end}", text)
    return text


def main(argv: list[str]) -> int:
    old = STUDIES_MD.read_text(encoding="utf-8")
    new = render(old)
    if "--check" in argv:
        if new != old:
            print("docs/studies.md: readings differ from what the stored reports give; run docs/readings.py")
            return 1
        return 0
    STUDIES_MD.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
