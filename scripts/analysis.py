"""Quantities derived from bench rows, shared by plot.py and report.py so a figure and
the table next to it always say the same thing; and the list of figures the results
call for (figure_plan), which plot.py draws and REPORT.md links.

Every series is of one commit (rows of several commits are grouped by commit, never
blended), and every quantity carries whether a disturbed row went into it: a verdict
from such a quantity is INCONCLUSIVE, one from missing data NOT_MEASURED.
"""
import math
import re
from collections import namedtuple

from results_io import DTYPE_ORDER, FORM_ORDER, PEER_FORMS, VARIANT_ORDER, ordered

SEQUENCE_PRESETS = ("paper-prefill", "scaling")
# The grid preset has its own figure and table; its many specs would crowd the ceiling ones.
CEILING_SKIPS_PRESETS = ("grid",)
MiB = float(1 << 20)
INCONCLUSIVE = "inconclusive (disturbed run)"
NOT_MEASURED = "not measured"

# commit: the one commit a heatmap is drawn from (None: every row of the figure); series
# figures keep each commit in series of its own instead.
Figure = namedtuple("Figure", "kind name backend preset dtype commit", defaults=(None,))


def ok_rows(rows):
    return [r for r in rows if r["status"] == "ok"]


def disturbed(rows):
    """True when any of rows was marked disturbed by the bench."""
    return any(r["disturbed"] for r in rows)


def memory_bytes(row):
    """Peak memory of a case on its own backend: device bytes on CUDA, host bytes on CPU."""
    return row["peak_device_bytes"] if row["backend"] == "cuda" else row["peak_host_bytes"]


def group(rows, *keys):
    """{tuple of key values: [rows]} in first-seen order."""
    out = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def fastest_per_T(rows):
    """{T: the ok row with the smallest median time at that T} (over forms and chunks)."""
    best = {}
    for r in ok_rows(rows):
        if r["T"] not in best or r["time_median_ms"] < best[r["T"]]["time_median_ms"]:
            best[r["T"]] = r
    return dict(sorted(best.items()))


def variants_of(rows):
    return ordered((r["variant"] for r in rows), VARIANT_ORDER)


def forms_of(rows):
    return ordered((r["form"] for r in rows), FORM_ORDER)


def dtypes_of(rows):
    return ordered((r["dtype"] for r in rows), DTYPE_ORDER)


def backends_of(rows):
    return ordered((r["backend"] for r in rows), ("cpu", "cuda"))


def clearly_faster(a, b):
    """True when row a beats row b beyond the spread of both: a's 80th-percentile time
    below b's 20th (medians when the percentiles are missing)."""
    a_slow = a["time_p80_ms"] if math.isfinite(a["time_p80_ms"]) else a["time_median_ms"]
    b_fast = b["time_p20_ms"] if math.isfinite(b["time_p20_ms"]) else b["time_median_ms"]
    return a_slow < b_fast


Crossover = namedtuple("Crossover", "variant T forms softmax_ms variant_ms speedup_at_max max_T verdict commit "
                                     "disturbed")


def crossovers(rows):
    """For each commit and each non-softmax variant of rows (one preset, backend, dtype,
    mode): the first measured T from which its fastest form is clearly faster
    (clearly_faster) than softmax's fastest form at that T and at every larger measured T.
    verdict: 'from T', 'at every T', or 'not in range'; disturbed: a row of either
    variant was disturbed (the verdict is then not to be trusted)."""
    out = []
    for (commit,), part in group(rows, "commit").items():
        out += _crossovers_of_commit(part, commit)
    return out


def _crossovers_of_commit(rows, commit):
    soft_rows = [r for r in rows if r["variant"] == "softmax"]
    soft = fastest_per_T(soft_rows)
    out = []
    for variant in variants_of(rows):
        if variant == "softmax" or not soft:
            continue
        mine_rows = [r for r in rows if r["variant"] == variant]
        mine = fastest_per_T(mine_rows)
        noisy = disturbed(soft_rows + mine_rows)
        common = [T for T in mine if T in soft]
        if not common:
            continue
        faster = [clearly_faster(mine[T], soft[T]) for T in common]
        start = len(common)
        while start > 0 and faster[start - 1]:
            start -= 1
        last = common[-1]
        speedup = soft[last]["time_median_ms"] / mine[last]["time_median_ms"]
        if start == len(common):
            out.append(Crossover(variant, None, "", math.nan, math.nan, speedup, last, "not in range", commit, noisy))
            continue
        T = common[start]
        verdict = "at every T" if start == 0 else "from T"
        out.append(Crossover(variant, T, mine[T]["form"], soft[T]["time_median_ms"],
                             mine[T]["time_median_ms"], speedup, last, verdict, commit, noisy))
    return out


def bound(row):
    """('compute' | 'memory', fraction of that ceiling) for an ok row: compute-bound when
    the case's FLOP/byte is at least the machine's ridge point (ceiling GFLOP/s over
    ceiling GB/s). None when the row lacks costs or ceilings."""
    needed = (row["flops"], row["bytes"], row["ceiling_gflops"], row["ceiling_gbps"])
    if row["status"] != "ok" or any(not (v > 0 and math.isfinite(v)) for v in needed):
        return None
    if row["flops"] / row["bytes"] >= row["ceiling_gflops"] / row["ceiling_gbps"]:
        return "compute", row["frac_flops_ceiling"]
    return "memory", row["frac_bw_ceiling"]


def ceiling_rows(results, backend):
    """The bench rows of a backend that the ceiling figure and table summarise."""
    return [r for r in results.bench_rows(backend=backend) if r["preset"] not in CEILING_SKIPS_PRESETS]


CeilingSummary = namedtuple("CeilingSummary", "backend mode variant form dtype commit bound best median row disturbed")


def ceiling_summary(rows):
    """Per (backend, mode, variant, form, dtype, commit): the best fraction of the ceiling
    the case is bound by over every measured shape (and which row), the median, and how
    many of the rows were disturbed."""
    out = []
    keyed = group([r for r in rows if bound(r) is not None], "backend", "mode", "variant", "form", "dtype", "commit")
    def order(key):
        backend, mode, variant, form, dtype, commit = key
        return (("cpu", "cuda").index(backend) if backend in ("cpu", "cuda") else 9, mode,
                _rank(variant, VARIANT_ORDER), _rank(form, FORM_ORDER), _rank(dtype, DTYPE_ORDER), commit)
    for key in sorted(keyed, key=order):
        fractions = sorted(bound(r)[1] for r in keyed[key])
        best_row = max(keyed[key], key=lambda r: bound(r)[1])
        median = fractions[len(fractions) // 2] if len(fractions) % 2 else \
            0.5 * (fractions[len(fractions) // 2 - 1] + fractions[len(fractions) // 2])
        out.append(CeilingSummary(*key, bound(best_row)[0], bound(best_row)[1], median, best_row,
                                  sum(r["disturbed"] for r in keyed[key])))
    return out


def _rank(value, order):
    return (order.index(value), "") if value in order else (len(order), value)


Trend = namedtuple("Trend", "backend dtype variant form commit first last median_ms slope_ms_per_1k change mem_ratio "
                           "disturbed")


def _median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def decode_trends(rows):
    """Per (backend, dtype, commit, variant) of the paper preset: how time and memory
    move with T. The time slope is Theil-Sen (median of the slopes between every pair of
    points), so a few noisy timings do not decide it; change = slope x (T range) / median
    time, the fitted growth over the measured range relative to a typical time. Memory:
    the ratio of the peak at the largest T to the peak at the smallest (NaN when either
    is missing or not positive). disturbed: a point of the series was disturbed."""
    out = []
    for (backend, dtype, commit), part in group(ok_rows(rows), "backend", "dtype", "commit").items():
        for variant in variants_of(part):
            best = fastest_per_T([r for r in part if r["variant"] == variant])
            if len(best) < 2:
                continue
            Ts = list(best)
            times = [best[T]["time_median_ms"] for T in Ts]
            slope = _median([(times[j] - times[i]) / (Ts[j] - Ts[i])
                             for i in range(len(Ts)) for j in range(i + 1, len(Ts))])
            median_ms = _median(times)
            first, last = best[Ts[0]], best[Ts[-1]]
            mem_first, mem_last = memory_bytes(first), memory_bytes(last)
            # A peak that is absent (NaN) or not positive was not tracked: no ratio.
            mem_ratio = mem_last / mem_first if mem_first > 0 and mem_last > 0 else math.nan
            forms = ordered((best[T]["form"] for T in Ts), FORM_ORDER)
            out.append(Trend(backend, dtype, variant, "/".join(forms), commit, first, last, median_ms,
                             slope * 1000.0, slope * (Ts[-1] - Ts[0]) / median_ms, mem_ratio,
                             disturbed([r for r in part if r["variant"] == variant])))
    return out


def grid_key(row):
    """(rule, feature map) of a grid row, from its spec string 'rule=..,phi=..,norm=..'."""
    fields = dict(item.split("=", 1) for item in row["spec"].split(",") if "=" in item)
    rule = fields.get("rule", row["variant"])
    if fields.get("norm") == "on":
        rule += " norm"
    return rule, fields.get("phi", "none")


FIGURE_PREFIXES = ("paper_decode_", "sequence_time_", "ceiling_fraction_", "accuracy_heatmap", "grid_",
                   "training_")


def figure_plan(results):
    """Every figure the results call for, in a fixed order."""
    plan = []
    paper = ok_rows(results.bench_rows(presets=("paper",)))
    for backend in backends_of(paper):
        plan.append(Figure("paper", f"paper_decode_{backend}", backend, "paper", None))
    for preset in SEQUENCE_PRESETS:
        rows = [r for r in ok_rows(results.bench_rows(presets=(preset,), mode="prefill")) if r["T"] > 0]
        for backend in backends_of(rows):
            for dtype in dtypes_of([r for r in rows if r["backend"] == backend]):
                plan.append(Figure("sequence", f"sequence_time_{preset}_{backend}_{dtype}", backend, preset, dtype))
    training = ok_rows(results.bench_rows(presets=("training",), mode="fwdbwd"))
    for backend in backends_of(training):
        for dtype in dtypes_of([r for r in training if r["backend"] == backend]):
            plan.append(Figure("training", f"training_{backend}_{dtype}", backend, "training", dtype))
    for backend in backends_of(results.bench):
        if any(bound(r) is not None for r in ceiling_rows(results, backend)):
            plan.append(Figure("ceiling", f"ceiling_fraction_{backend}", backend, None, None))
    for commit in _heatmap_commits(results.check):
        plan.append(Figure("accuracy", "accuracy_heatmap" + _commit_suffix(commit), None, None, None, commit))
    grid = results.bench_rows(presets=("grid",))
    for backend in backends_of(grid):
        for dtype in dtypes_of([r for r in grid if r["backend"] == backend]):
            part = [r for r in grid if r["backend"] == backend and r["dtype"] == dtype]
            for commit in _heatmap_commits(part):
                plan.append(Figure("grid", f"grid_{backend}_{dtype}" + _commit_suffix(commit), backend, "grid",
                                   dtype, commit))
    return plan


def _heatmap_commits(rows):
    """[None] when rows hold one commit (one heatmap of them all), else each commit (one
    heatmap each, so no cell takes the best of two commits); [] without rows."""
    commits = ordered((r["commit"] for r in rows), ())
    return [None] if len(commits) == 1 else commits


def _commit_suffix(commit):
    return "" if commit is None else "_" + "".join(c if c.isalnum() else "-" for c in commit)


def of_commit(rows, commit):
    """The rows of one commit (every row for None)."""
    return [r for r in rows if commit is None or r["commit"] == commit]


# ---- PyTorch peers (scripts/peers.py) ------------------------------------------------
PEER_CASE_KEYS = ("variant", "spec", "mode", "B", "H", "T", "dk", "dv", "m", "chunk", "gates", "dtype")


def peer_pairs(results):
    """[(peer row, its dfwbench row or None)]: each peer row of a peers-*.csv with the row of
    the dfwbench file it was timed beside (its context's paired_with: the same run) for
    the same case and the form PEER_FORMS names."""
    pairs = []
    for name, kind, rows in results.files:
        if kind != "peers":
            continue
        paired = results.contexts.get(name, {}).get("paired_with")
        bench = {tuple(r[k] for k in PEER_CASE_KEYS) + (r["form"],): r
                 for r in results.bench if r["file"] == paired}
        for p in rows:
            form = PEER_FORMS[p["form"]][p["mode"]]
            pairs.append((p, bench.get(tuple(p[k] for k in PEER_CASE_KEYS) + (form,))))
    return pairs


PeerComparison = namedtuple("PeerComparison", "preset variant mode shape gates form peer Ts ratios "
                                              "last verdict disturbed")


def peer_comparisons(results):
    """One PeerComparison per (file, variant, mode, shape but T, gates, form, peer): the
    ratios peer time / dfwbench time over T (>= 1: dfwbench faster) and a verdict:
    'dfwbench faster at every T', 'peer faster at T = ...', INCONCLUSIVE when a row
    of either side was disturbed, or why the peer did not run."""
    out = []
    by_case = {}
    for p, d in peer_pairs(results):
        key = (p["file"], p["preset"], p["variant"], p["mode"], p["B"], p["H"], p["dk"], p["dv"], p["gates"],
               PEER_FORMS[p["form"]][p["mode"]], p["form"])
        by_case.setdefault(key, []).append((p, d))
    for (file, preset, variant, mode, B, H, dk, dv, gates, form, peer), pairs in by_case.items():
        if preset == "custom":  # a sweep of flags: named by its file (peers.py --name)
            preset = re.sub(r"-(cpu|cuda)\.csv$", "", file[len("peers-"):]) if file.startswith("peers-") else file
        pairs.sort(key=lambda pd: pd[0]["T"])
        measured = [(p, d) for p, d in pairs if p["status"] == "ok" and d is not None and d["status"] == "ok"]
        ratios = [p["time_median_ms"] / d["time_median_ms"] for p, d in measured]
        shape = f"B={B} H={H} dk={dk} dv={dv}"
        errors = [p for p, _ in pairs if p["status"] != "ok"]
        noisy = any(p["disturbed"] or d["disturbed"] for p, d in measured)
        slower = [p["T"] for (p, _), r in zip(measured, ratios) if r < 1.0]
        if errors and not measured:
            verdict = f"peer not timed: {errors[0]['status']} ({errors[0]['note'] or 'no note'})"
        elif not measured:
            verdict = NOT_MEASURED
        elif noisy:
            verdict = INCONCLUSIVE
        elif slower:
            verdict = f"peer faster at T = {', '.join(str(t) for t in slower)}"
        else:
            verdict = "dfwbench faster at every T"
        if errors and measured:
            verdict += f"; peer not timed at T = {', '.join(str(p['T']) for p in errors)} ({errors[0]['status']})"
        out.append(PeerComparison(preset, variant, mode, shape, gates, form, peer, [p["T"] for p, _ in measured],
                                  ratios, measured[-1] if measured else None, verdict, noisy))
    return out
