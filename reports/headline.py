"""Issue 4's headline numbers for one report folder, from its runs' metrics.json.

    python reports/headline.py reports/qm9-gap

Also writes FOLDER/run_metrics.json, every run's metrics.json in one file.

Tail MAE: per extrapolation run, the MAE over both tails together (the tail MAEs
weighted by their counts); then mean ± std over seeds. Tail ρ: Spearman's ρ per
tail, mean over seeds. Shot MAE: random split's test set, per shot group, mean over
the seeds that have samples in the group; medium+few pools the two
(every value whose bin holds at most 100 training labels). Changes are (new - reference) / reference.
"""

import json
import sys
from pathlib import Path

import numpy as np


def load(folder: Path) -> dict:
    """Every run's metrics.json, gathered into FOLDER/run_metrics.json (kept in git, unlike
    runs/, which the repository's .gitignore leaves out); read from there when runs/ is gone."""
    gathered = folder / "run_metrics.json"
    paths = sorted((folder / "runs").glob("*/metrics.json"))
    if paths:
        gathered.write_text(json.dumps({p.parent.name: json.loads(p.read_text())
                                        for p in paths}, indent=1) + "\n")
    return {tuple(label.split("-")): metrics
            for label, metrics in json.loads(gathered.read_text()).items()}


def stat(values):
    values = np.array([v for v in values if v is not None and np.isfinite(v)])
    if not len(values):
        return float("nan"), float("nan"), 0
    return values.mean(), values.std(ddof=1) if len(values) > 1 else 0.0, len(values)


def pool(groups: list[dict]) -> dict:
    """Shot groups merged: MAE weighted by the counts."""
    n = sum(g["n"] for g in groups)
    return {"n": n, "mae": sum(g["mae"] * g["n"] for g in groups if g["n"]) / n if n else None}


def main(folder: Path) -> None:
    runs = load(folder)
    target = next(iter(runs.values()))["config"]["targets"][0]
    starts = sorted({k[0] for k in runs}, key=["scratch", "pretrained"].index)
    losses = sorted({k[1] for k in runs}, key=lambda l: l != "plain")
    def pick(start, loss, split):
        return [m for k, m in runs.items() if k[:3] == (start, loss, split)]
    def tail_mae(m):
        parts = [m["metrics"][t][target] for t in ("test_low", "test_high") if t in m["metrics"]]
        n = sum(p["n"] for p in parts)
        return sum(p["mae"] * p["n"] for p in parts) / n
    print(f"# {folder.name}: {target}\n")
    print("## Tails (extrapolation split): pre-trained against scratch\n")
    print("| loss | tail MAE scratch | tail MAE pre-trained | change | "
          "ρ low scratch → pre-trained | ρ high scratch → pre-trained |")
    print("|---|---|---|---|---|---|")
    for loss in losses:
        cells = {}
        for start in starts:
            ms = pick(start, loss, "extrapolation")
            cells[start] = (stat([tail_mae(m) for m in ms]),
                            {t: stat([m["metrics"].get(t, {}).get(target, {}).get("spearman")
                                      for m in ms]) for t in ("test_low", "test_high")})
        (s, ss, _), rs = cells["scratch"]
        (p, ps, _), rp = cells.get("pretrained", ((float("nan"),) * 3, rs))
        rho = [f"{rs[t][0]:.3f} → {rp[t][0]:.3f}" if rs[t][2] else "— (no tail)"
               for t in ("test_low", "test_high")]
        print(f"| {loss} | {s:.4g} ± {ss:.2g} | {p:.4g} ± {ps:.2g} | {100 * (p - s) / s:+.1f}% | "
              f"{rho[0]} | {rho[1]} |")
    print("\n## Shot groups (random split's test set): imbalance-aware against plain loss\n")
    print("| backbone | group | n per seed | MAE plain | MAE imbalance | change |")
    print("|---|---|---|---|---|---|")
    imbalance = [l for l in losses if l != "plain"][0]
    for start in starts:
        for group in ("many", "medium", "few", "medium+few"):
            row = {}
            for loss in ("plain", imbalance):
                ms = pick(start, loss, "random")
                shots = [pool([m["shots"]["test"][target][g] for g in group.split("+")])
                         for m in ms]
                row[loss] = stat([s["mae"] if s["n"] else None for s in shots])
                counts = [s["n"] for s in shots]
            a, b = row["plain"][0], row[imbalance][0]
            change = f"{100 * (b - a) / a:+.1f}%" if np.isfinite(a) and np.isfinite(b) else "—"
            print(f"| {start} | {group} | {counts} | {a:.4g} ± {row['plain'][1]:.2g} | "
                  f"{b:.4g} ± {row[imbalance][1]:.2g} | {change} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
