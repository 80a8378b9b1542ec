"""Tabulates scripts/ope-vs-truth.sh's outputs: each estimator against the
simulator's truth, with the rank correlation and the bias. Prints markdown."""
import json
import re
import sys

out, policies = sys.argv[1], sys.argv[2:]
truth = {}
for p in policies:
    m = re.search(r"^return\s+(\S+) ± (\S+)", open(f"{out}/truth-{p}.txt").read(), re.M)
    truth[p] = (float(m.group(1)), float(m.group(2)))


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb) if va and vb else float("nan")


def cell(e):
    if e is None or e["value"] is None:
        return "no support"
    return f"{e['value']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"


print("# Off-policy evaluation against the simulator's truth\n")
print("Written by `scripts/ope-vs-truth.sh`. Truth: `mtfuse simulate`, 2,000 sessions, mean "
      "discounted return ± 95% CI. Estimates: `mtfuse ope` with 95% bootstrap intervals over "
      "sessions (FQE and DR with the critics fixed). Logs: the shipped static policy explored "
      "per request, seed 101.\n")
for w in ["0.15", "0.05"]:
    reps = {p: json.load(open(f"{out}/ope-{w}-{p}.json")) for p in policies}
    any_rep = next(iter(reps.values()))
    print(f"## Log: static policy, ±{w} per request ({any_rep['sessions']} sessions, "
          f"its own return {any_rep['behaviour_return']:.3f} ± {any_rep['behaviour_ci']:.3f})\n")
    print("| policy | truth | PDWIS | ESS | FQE | DR |")
    print("|---|---:|---:|---:|---:|---:|")
    for p in policies:
        r = reps[p]
        print(f"| {p} | {truth[p][0]:.3f} ± {truth[p][1]:.3f} | {cell(r['pdwis'])} | {r['ess']:.0f} | {cell(r['fqe'])} | {cell(r['dr'])} |")
    print()
    print("| estimator | policies judged | Spearman ρ with truth | mean bias | mean absolute bias |")
    print("|---|---:|---:|---:|---:|")
    for name in ["pdwis", "fqe", "dr"]:
        judged = [p for p in policies if reps[p][name] is not None and reps[p][name]["value"] is not None]
        if len(judged) < 2:
            print(f"| {name.upper()} | {len(judged)} | n/a | n/a | n/a |")
            continue
        est = [reps[p][name]["value"] for p in judged]
        tru = [truth[p][0] for p in judged]
        bias = [e - t for e, t in zip(est, tru)]
        print(f"| {name.upper()} | {len(judged)} | {spearman(est, tru):.2f} | {sum(bias) / len(bias):+.3f} | {sum(abs(b) for b in bias) / len(bias):.3f} |")
    print()
