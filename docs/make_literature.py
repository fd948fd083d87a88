"""Write docs/literature.md from the literature audit itself (nothing in it is typed by hand but the
prose around the numbers). Run from the repository root:

    .venv/bin/python docs/make_literature.py                 # rewrites docs/literature.md
    .venv/bin/python docs/make_literature.py --shrinkbench "Results-Grid view.csv"   # + literature-shrinkbench.md

tests/test_literature_docs.py checks that docs/literature.md is what this script writes (and
literature-shrinkbench.md too, when PRUNEBENCH_SHRINKBENCH_GRID names the grid it was written from).
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from prunebench.literature import DATASETS, PAIR_RULES, ROW_RULES, audit_table, load_dataset
from prunebench.literature.importers import import_shrinkbench

OUT = Path(__file__).with_name("literature.md")

INTRO = """\
# Calibrating the literature

Wang et al. (2023, §4) advise *calibrating* published pruning numbers before comparing them: say which
comparison setup a published comparison meets, flag under-trained baselines, never trust numbers
whose retraining recipe is unknown, prefer mean ± std over several runs, and re-evaluate methods
against a properly retrained L1-norm baseline. prunebench ships the tables those claims rest on and
an audit that applies the advice row by row and comparison by comparison.

```sh
prunebench literature list                                  # the shipped tables and their sources
prunebench literature audit paper-table1 --out lit-report   # report.md, report.html, CSVs, figures
prunebench literature audit                                 # every shipped table
prunebench literature audit my-table.csv --reference "L1-norm"
prunebench literature import shrinkbench "Results-Grid view.csv" --out shrinkbench.csv
prunebench literature import csv table.csv --map "Top-1=top1" --map "Method=name" --source "Paper, Table 2" --out rows.csv
```

Tables are rows CSVs (the columns are in [fairness.md](fairness.md)); every shipped row names its
`source` (paper and table), and a cell the source does not print is empty: unknown is a result,
never a guess. Comparisons are drawn against `--reference ROW` when it is given, else from each
row's `compare_to` (the method against its reference), else between all rows of the same dataset,
model and group (the `group` column, or a half-octave bucket of the speedup).

Everything below this line is written by `docs/make_literature.py` from the audit's output.
"""


def _rules() -> list[str]:
    lines = ["## The calibration rules", ""]
    lines += [f"- **{r.name}** (per row): {r.doc}." for r in ROW_RULES]
    lines += [f"- **{r.name}** (per comparison): {r.doc}." for r in PAIR_RULES]
    lines += ["", "A rule that lacks the cells it needs says *undecided*, which the report lists apart from the flags.", ""]
    return lines


def _setup_table(audits) -> list[str]:
    head = "| table | rows | comparisons | strictest S1 | S2 | S3.1 | S3.2+ | none | SX-A | SX-B | flags |"
    lines = ["## Every shipped table", "", head, "|" + "---|" * 11]
    for a in audits:
        s = a["summary"]
        by = s["by_strictest"]
        flags = ", ".join(f"{k} {v['flagged']}" for k, v in s["flags"].items() if v["flagged"])
        lines.append(f"| `{a['table']}` | {s['n_rows']} | {s['n_comparisons']} | {by['S1']} | {by['S2']} | {by['S3.1']} | "
                     f"{by['S3.2'] + by['S4.1'] + by['S4.2']} | {by['none']} | {s['sx']['SX-A']} | {s['sx']['SX-B']} | {flags} |")
    lines += ["", *[f"- {a['summary']['line']}" for a in audits], ""]
    return lines


def _names(items) -> str:
    return ", ".join(f"{x}" for x in items) or "none"


def _table1(a) -> list[str]:
    comps, rows = a["comparisons"], {r["name"]: r for r in a["rows"]}
    fails_rate = [c["b"] for c in comps if "speedup" in c["differs"]]
    s1 = [c["b"] for c in comps if c["strictest"] == "S1"]
    base_unknown = sum(1 for c in comps if "base" in c["missing"])
    under = [n for n, r in rows.items() if any(f["rule"] == "under-trained" for f in r["flags"])]
    reimpl = [n for n in rows if n.startswith("L1-norm (reimpl.)")]
    recipe = [n for n, r in rows.items() if any(f["rule"] == "recipe-unknown" for f in r["flags"]) and r["top1"] is not None]
    differs = [c["b"] for c in comps if any(f["rule"] == "retraining-differs" for f in c["flags"])]
    base_acc = [f"{c['b']} ({next(f['message'] for f in c['flags'] if f['rule'] == 'base-accuracy')})"
                for c in comps if any(f["rule"] == "base-accuracy" for f in c["flags"])]
    best = [n for n, r in rows.items() if any(f["rule"] == "best-test" for f in r["flags"])]
    based = [n for n in rows if n in a["based"]]
    under_msg = "; ".join(f"{n}: {next(f['message'] for f in rows[n]['flags'] if f['rule'] == 'under-trained')}" for n in under)
    return [
        "## What the audit says about the paper's Table 1", "",
        f"Table 1 (ResNet-50 / ImageNet-1K) draws {len(comps)} comparisons: each method against the paper's "
        f"re-implemented L1-norm at the same speedup group ({_names(sorted({c['a'] for c in comps}))}).", "",
        f"- **Setups.** {len(s1)} meet S1 and nothing stricter ({_names(s1)}); {len(comps) - len(s1)} do not meet S1, "
        f"{len(fails_rate)} of them because their speedup differs from the reference's by more than the "
        f"{a['tolerance']:.0%} tolerance ({_names(fails_rate)}). S2 is unknown in {base_unknown} of {len(comps)}: the "
        f"only results that name their base model are {_names(based)}, so no comparison can be shown to start from "
        "the same weights.",
        f"- **Under-trained.** {under_msg}. The re-implemented rows ({_names(reimpl)}) are not flagged "
        "(90 epochs with a decaying schedule from 0.01, Table 3).",
        f"- **Recipe unknown.** {len(recipe)} of {sum(1 for r in rows.values() if r['top1'] is not None)} results have no "
        f"full retraining recipe in Table 3 ({_names(recipe)}).",
        f"- **Retraining differs** from the reference's 90 epochs in {len(differs)} comparisons ({_names(differs)}): "
        "their gain or loss may come from retraining, not from pruning.",
        f"- **Base accuracy.** {_names(base_acc)}.",
        f"- **Best-test selection.** {_names(best)}.",
        "- **Single runs.** No Table 1 cell carries a std or a number of runs.", "",
        "So no published Table 1 comparison can be read at S2 or stricter, and the under-trained original "
        "L1-norm recipe is exactly the kind of baseline the paper warns about (§4, rec. 4).", "",
    ]


def _others(audits) -> list[str]:
    by = {a["table"]: a for a in audits}
    t4, r56, liu = by["paper-table4"], by["paper-resnet56"], by["liu2019-l1"]
    labels = Counter((c["paper_setup"], c["paper_setup"] in c["holds"]) for c in t4["comparisons"] if c["paper_setup"])
    label_lines = [f"  - the paper's label {p}: holds in the strict audit for {labels[(p, True)]}, not for {labels[(p, False)]}"
                   for p in sorted({p for p, _ in labels})]
    tuned = [r for r in liu["rows"] if r["name"].endswith("fine-tuned")]
    spread = sum(1 for c in r56["comparisons"] if any(f["rule"] == "within-spread" for f in c["flags"]))
    return [
        "## The other shipped tables", "",
        f"- **Table 4 (ResNet-34 / ImageNet-100)**: {t4['summary']['line']}", *label_lines,
        "  - Table 4's \"S4.2\" rows are pruned from a dense snapshot and follow the scratch model's overall "
        "schedule (paper-notes §9); against scratch's fresh initialisation Table 2's chain gives S1, and the same "
        "120 total epochs make them SX-A.",
        f"- **ResNet-56 / CIFAR-10 (paper Table 6, TPP Table 1)**: {r56['summary']['line']} The retraining momentum "
        f"is not printed, so S3.2 stays unknown; {spread} comparisons differ by less than their reported spread.",
        f"- **Liu et al. 2019**: {liu['summary']['line']} All {len(tuned)} fine-tuned rows (Li et al.'s recipe, LR 0.001 "
        "fixed for 40 epochs on CIFAR, 20 on ImageNet) are flagged under-trained; S1 is unknown throughout because "
        "the table prints no MACs, speedup or sparsity.", "",
    ]


SHRINKBENCH_MD = Path(__file__).with_name("literature-shrinkbench.md")


def _shrinkbench_pointer() -> list[str]:
    lines = ["## What the audit says about ShrinkBench's collection", ""]
    if SHRINKBENCH_MD.exists():
        return lines + [
            "ShrinkBench's results grid is not shipped (it is ShrinkBench's file); its reading, written by this "
            "script from the import and the audit of the grid, is in "
            "[literature-shrinkbench.md](literature-shrinkbench.md).", ""]
    return lines + [
        "ShrinkBench's `Results-Grid view.csv` is not shipped; run `docs/make_literature.py --shrinkbench PATH` "
        "to write its reading.", ""]


def render_shrinkbench(path: str, provenance: str) -> str:
    """The ShrinkBench reading: what the import kept and skipped, and what the audit says."""
    result = import_shrinkbench(path)
    audit = audit_table("shrinkbench", result.rows)
    s = audit["summary"]
    reasons = Counter(why for _, _, why in result.skipped)
    datasets = Counter(r.get("dataset") for r in result.rows)
    absent = [f"`{c}` (so {', '.join(v)} cannot be decided)" for c, v in s["absent"].items()]
    flags = [f"{k}: {v['flagged']} flagged, {v['undecided']} undecided" for k, v in s["flags"].items()]
    lines = [
        "# ShrinkBench's collection under the literature audit", "",
        "Written by `docs/make_literature.py --shrinkbench PATH` from `prunebench literature import shrinkbench` "
        "and `prunebench literature audit` on ShrinkBench's results grid (Blalock et al. 2020: results gathered "
        f"from 81 papers). Input: {provenance}.", "",
        "## The import", "",
        f"- {result.report_lines()[0]}.",
        *[f"- skipped, {n}: {why}" for why, n in reasons.most_common()],
        "- imported rows by dataset: " + ", ".join(f"{d} {n}" for d, n in datasets.most_common()) + ".",
        "- ignored input columns (no place in the rows format): " + ", ".join(result.ignored_columns) + ".", "",
        "## The audit", "",
        f"Comparisons: {audit['mode']} (half-octave buckets of the speedup, else of 100/(100 - sparsity)).", "",
        f"- {s['line']}",
        f"- Rows in no comparison (alone in their dataset, model and bucket): {len(s['unplaced'])} of {s['n_rows']}.",
        "- Setup columns no row gives: " + "; ".join(absent) + ".",
        "- Flags: " + "; ".join(flags) + ".", "",
        f"The grid records accuracies and compression figures but no base model and no retraining recipe: "
        f"{sum(n for k, n in s['by_strictest'].items() if k not in ('S1', 'none'))} of {s['n_comparisons']} "
        f"comparisons meet S2 or stricter, {s['flags']['recipe-unknown']['flagged']} of {s['n_rows']} results are "
        f"flagged `recipe-unknown`, and {s['by_strictest']['none'] - s['s1_unknown']} comparisons within one bucket "
        "are not even at the same compression rate (S1 fails: their speedups or sparsities differ by more than "
        f"{audit['tolerance']:.0%}). By itself the grid supports S1 at most (paper-notes §10).", "",
    ]
    return "\n".join(lines).rstrip() + "\n"


def render() -> str:
    audits = [audit_table(d.name, load_dataset(d.name)) for d in DATASETS]
    t1 = next(a for a in audits if a["table"] == "paper-table1")
    t1["based"] = {r["name"] for r in load_dataset("paper-table1") if r.get("base") and r.get("top1") is not None}
    lines = [INTRO, *_setup_table(audits), *_table1(t1), *_others(audits), *_shrinkbench_pointer(), *_rules()]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shrinkbench", metavar="CSV", help="ShrinkBench's 'Results-Grid view.csv': also write "
                        "literature-shrinkbench.md")
    parser.add_argument("--provenance", default="the file given with --shrinkbench",
                        help="where that file comes from (printed in the reading)")
    args = parser.parse_args(argv)
    if args.shrinkbench:
        SHRINKBENCH_MD.write_text(render_shrinkbench(args.shrinkbench, args.provenance), encoding="utf-8")
        print(SHRINKBENCH_MD)
    OUT.write_text(render(), encoding="utf-8")
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
