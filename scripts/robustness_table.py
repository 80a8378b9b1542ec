"""The robustness table from scripts/robustness.sh's outputs: paired lift over
static per variant, training seed and policy, then EnhancedRL against the
recalibrated baseline where both exist. Arguments: the output folder, then
the runs (`<variant>-s<seed>` folders); without runs, every run there."""
import json
import os
import sys

out, runs = sys.argv[1], sys.argv[2:]
if not runs:
    runs = sorted(d for d in os.listdir(out) if os.path.exists(f"{out}/{d}/eval.json"))
print("| variant | seed | policy | return ± 95% CI | paired lift vs static ± 95% CI | minutes |")
print("|---|---:|---|---:|---:|---:|")
for run in runs:
    v, seed = run.rsplit("-s", 1)
    e = json.load(open(f"{out}/{run}/eval.json"))["simulated_ab"]
    minutes = int(open(f"{out}/{run}/seconds.txt").read()) / 60
    for row in e:
        m, ci = row["ret"]
        print(f"| {v} | {seed} | {row['policy']} | {m:.3f} ± {ci:.3f} | {100 * row['lift']:+.1f}% ± {100 * row['lift_ci']:.1f}% | {minutes:.0f} |")
paired = [r for r in runs if os.path.exists(f"{out}/{r}/eval-vs-recalibrated.json")]
if paired:
    print()
    print("| variant | seed | EnhancedRL vs recalibrated, paired lift ± 95% CI |")
    print("|---|---:|---:|")
    for run in paired:
        v, seed = run.rsplit("-s", 1)
        e = json.load(open(f"{out}/{run}/eval-vs-recalibrated.json"))["simulated_ab"]
        row = next(r for r in e if r["policy"] == "enhanced")
        print(f"| {v} | {seed} | {100 * row['lift']:+.1f}% ± {100 * row['lift_ci']:.1f}% |")
