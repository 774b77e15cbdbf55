#!/usr/bin/python3
"""Regenerates the tables of REPORT.md from dfwbench results, so no number is typed by hand.

  /usr/bin/python3 scripts/report.py [--results results/] [--report REPORT.md] [--check]

REPORT.md holds prose and marker pairs `<!-- table:NAME:begin -->` ... `<!-- table:NAME:end -->`;
everything between a pair is replaced by the generated block NAME (TABLES below): one
heading per machine directory of the results root (results/<machine-id>/), each followed
by that machine's table, so two machines' numbers never share a table. A verdict drawn
from a row the bench marked disturbed reads "inconclusive (disturbed run)", one drawn from
missing data "not measured". The blocks of STATIC_TABLES (the compiled CUDA kernels,
results/static/) are one per report, not per machine. Every name must appear exactly once. --check rewrites
nothing: it exits 1 and prints a diff when a block differs from what the results give.
Exit 2 on malformed results or markers.
"""
import argparse
import difflib
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import analysis  # noqa: E402
from analysis import INCONCLUSIVE, NOT_MEASURED  # noqa: E402
from results_io import VARIANT_ORDER, ResultsError, docs_limits, machine_sets, ordered, read_static_csv  # noqa: E402

MARKER = re.compile(r"<!-- table:([a-z0-9-]+):begin -->\n(.*?)<!-- table:\1:end -->", re.S)


NO_GPU = ("_No GPU results yet: no machine set holds CUDA rows. A GPU machine's set appears beside the "
          "others once `scripts/reproduce.sh` (or `scripts/gpu_check.sh`, its `results/` copied in) has run "
          "there._")


CHECK_LIMITS = docs_limits()


# ---- formatting -----------------------------------------------------------------
def num(x, digits=3):
    """A measured value with `digits` significant digits, plain notation from 1e-3 to 1e6."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 10 ** digits:
        decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(x)))))
        return f"{x:.{decimals}f}"
    if abs(x) >= 10 ** digits and abs(x) < 1e6:
        return f"{x:.0f}"
    return f"{x:.{digits - 1}e}"


def pct(fraction):
    return "—" if fraction is None or math.isnan(fraction) else f"{num(100 * fraction)}%"


def mib(nbytes):
    return num(nbytes / analysis.MiB)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def value_range(values):
    values = sorted(set(values))
    if not values:
        return "—"
    if len(values) == 1:
        return str(values[0])
    steps = {b - a for a, b in zip(values, values[1:])}
    if len(steps) == 1:
        return f"{values[0]}–{values[-1]} step {steps.pop()}"
    ratios = {b / a for a, b in zip(values, values[1:]) if a > 0}
    if len(ratios) == 1 and values[0] > 0:
        return f"{values[0]}–{values[-1]} (x{num(ratios.pop())} steps)"
    return ", ".join(str(v) for v in values)


def marked(text, row):
    """A table cell of a measured value, marked when its row was disturbed."""
    return f"{text} (disturbed)" if row["disturbed"] else text


# ---- the generated blocks, each of one machine's Results -----------------------------
def block_sources(results):
    rows = []
    for name, kind, file_rows in results.files:
        count = lambda s: sum(1 for r in file_rows if r["status"] == s)  # noqa: E731
        load = "—"
        if kind in ("bench", "peers"):
            presets = ", ".join(ordered((r["preset"] for r in file_rows), ()))
            counts = [count("ok"), count("oom"), count("unsupported"), count("error")]
            context = results.contexts.get(name, {})
            if isinstance(context.get("load_avg"), list) and context["load_avg"]:
                load = f"{num(float(context['load_avg'][0]))} on {context.get('num_cpus', '?')} CPUs"
        else:
            presets = "accuracy check"
            counts = [count("PASS"), "—", count("UNSUPPORTED"), count("FAIL")]
        disturbed = sum(r["disturbed"] for r in file_rows) if kind in ("bench", "peers") else "—"
        rows.append([f"`{name}`", presets, ", ".join(analysis.backends_of(file_rows)), len(file_rows), *counts,
                     disturbed,
                     " / ".join(ordered((r["machine"] for r in file_rows), ())),
                     " / ".join(ordered((r["commit"] for r in file_rows), ())), load])
    return table(["file", "preset", "backend", "rows", "ok / PASS", "oom", "unsupported", "error / FAIL",
                  "disturbed", "machine", "commit", "load average at start"], rows)


PAPER_PROTOCOL = {
    "hardware": "one GPU",
    "commit": "the paper's released code",
    "precision": "fp16",
    "timed work": "forward only: one query against a K/V cache of length T (softmax) vs one recurrent step "
                  "from a carried state (decay and delta rules)",
    "context lengths T": "0–1920 step 128",
    "batch x heads": "32 x 1",
    "dk, dv, m": "64, 64, 64",
    "statistic": "median of repeated timings after warm-up, L2 cache flushed between runs",
    "memory": "peak device memory",
    "full sequence": "an earlier version: forward plus backward, same shapes",
}


def protocol_column(results, backend):
    decode = [r for r in results.bench_rows(presets=("paper",), backend=backend)]
    prefill = [r for r in results.bench_rows(presets=("paper-prefill",), backend=backend)]
    ok = analysis.ok_rows(decode)
    if not decode:
        return None
    reps = sorted({r["repetitions"] for r in ok if isinstance(r["repetitions"], int)})
    flushed = "L2 flushed before each sample (CUDA events)" if backend == "cuda" else "wall clock, no flush"
    prefill_text = "not run"
    if prefill:
        prefill_text = (f"forward only, T = {value_range(r['T'] for r in prefill)}, forms "
                        f"{', '.join(analysis.forms_of(prefill))}")
    return {
        "hardware": " / ".join(ordered((r["machine"] for r in decode), ())),
        "commit": " / ".join(ordered((r["commit"] for r in decode), ())),
        "precision": ", ".join(analysis.dtypes_of(decode)),
        "timed work": f"forward only: form(s) {', '.join(analysis.forms_of(decode))} of "
                      f"{', '.join(analysis.variants_of(decode))}",
        "context lengths T": value_range(r["T"] for r in decode),
        "batch x heads": f"{value_range(r['B'] for r in decode)} x {value_range(r['H'] for r in decode)}",
        "dk, dv, m": f"{value_range(r['dk'] for r in decode)}, {value_range(r['dv'] for r in decode)}, "
                     f"{value_range(r['m'] for r in decode if isinstance(r['m'], int))}",
        "statistic": f"median of {value_range(reps)} timed runs (p20–p80 kept), {flushed}",
        "memory": "peak tracked device bytes" if backend == "cuda" else "peak tracked host bytes",
        "full sequence": prefill_text,
    }


def _trend_verdict(trend, what):
    """(text, verdict) for the time or memory trend of one variant in T."""
    span = f"T={trend.first['T']}..{trend.last['T']}"
    if what == "time":
        verdict = time_verdict(trend)
        return f"{trend.variant} {verdict} (fitted change {trend.change * 100:+.0f}% over {span})", verdict
    verdict = memory_verdict(trend)
    return f"{trend.variant} {verdict} (x{num(trend.mem_ratio)} over {span})", verdict


def claim_cell(parts, verdicts, expected):
    """One claim's cell: inconclusive when a verdict came from a disturbed row, not
    measured when one has no data, else holds when every verdict is the expected one."""
    if INCONCLUSIVE in verdicts:
        head = INCONCLUSIVE
    elif NOT_MEASURED in verdicts:
        head = NOT_MEASURED
    else:
        head = "holds" if all(v == expected for v in verdicts) else "does not hold"
    return f"{head}: " + "; ".join(parts)


def _claim_cells(results, backend):
    """The verdict of each claim (CLAIMS order) on one backend, from the tables below."""
    trends = analysis.decode_trends(results.bench_rows(presets=("paper",), backend=backend))
    if not trends:
        return None
    several_commits = len({t.commit for t in trends}) > 1
    cells = []
    for what, grows_expected in (("time", True), ("time", False), ("memory", True), ("memory", False)):
        names = ("softmax",) if grows_expected else ("dfw", "delta")
        expected = "grows" if grows_expected else ("flat", "constant")[what == "memory"]
        parts, verdicts = [], []
        for name in names:
            mine = [t for t in trends if t.variant == name]
            if not mine:
                parts.append(f"{name} {NOT_MEASURED}")
                verdicts.append(NOT_MEASURED)
            for t in mine:
                text, verdict = _trend_verdict(t, what)
                parts.append(f"{text} at {t.commit}" if several_commits else text)
                verdicts.append(verdict)
        cells.append(claim_cell(parts, verdicts, expected))
    prefill = analysis.ok_rows(results.bench_rows(presets=("paper-prefill",), backend=backend, mode="prefill"))
    crossings = []
    for (dtype,), part in analysis.group(prefill, "dtype").items():
        for c in analysis.crossovers(part):
            where = crossover_text(c)
            crossings.append(f"{c.variant} {dtype}: {where}" + (f" at {c.commit}" if several_commits else ""))
    cells.append("; ".join(crossings) if crossings else f"paper-prefill {NOT_MEASURED}")
    cells.append("not reproducible here (section 9)")
    return cells


def crossover_text(c):
    """A crossover as a claim's words; inconclusive when a row behind it was disturbed."""
    if c.disturbed:
        return INCONCLUSIVE
    if c.verdict == "not in range":
        return f"slower up to T={c.max_T}"
    return f"faster from T={c.T} ({c.forms})"


CLAIMS = (
    ("softmax attention costs O(T) time per generated token", "4"),
    ("decaying fast weights (and the delta rule) cost O(1) time per generated token", "4"),
    ("softmax attention needs O(T) memory per sequence during generation", "4"),
    ("the recurrent rules need O(1) memory in T", "4"),
    ("the recurrent form runs fast: it overtakes softmax as sequences grow", "5"),
    ("decaying fast weights retain 99% of GPT-2 attention's performance", "9"),
)


def block_claims(results):
    backends = analysis.backends_of(results.bench_rows(presets=("paper",)))
    if not backends:
        return "_No `paper` preset results in this set._"
    columns = {b: _claim_cells(results, b) for b in backends}
    rows = []
    for i, (claim, section) in enumerate(CLAIMS):
        missing = NOT_MEASURED if i < len(CLAIMS) - 1 else "not reproducible here (section 9)"
        rows.append([claim, section] + [columns[b][i] if columns[b] else missing for b in backends])
    return table(["claim (paper's abstract and speed figure)", "section"] + [f"dfwbench, {b}" for b in backends],
                 rows)


def block_protocol(results):
    backends = analysis.backends_of(results.bench_rows(presets=("paper",)))
    if not backends:
        return "_No `paper` preset results in this set._"
    columns = {b: protocol_column(results, b) for b in backends}
    rows = [[aspect, PAPER_PROTOCOL[aspect]] + [columns[b][aspect] for b in backends] for aspect in PAPER_PROTOCOL]
    return table(["", "paper (Mao 2022)"] + [f"dfwbench, {b}" for b in backends], rows)


def paper_series(results):
    """{(backend, dtype, commit, variant): {T: fastest ok row}} of the paper preset."""
    ok = analysis.ok_rows(results.bench_rows(presets=("paper",)))
    out = {}
    for (backend, dtype, commit), part in analysis.group(ok, "backend", "dtype", "commit").items():
        for variant in analysis.variants_of(part):
            out[(backend, dtype, commit, variant)] = analysis.fastest_per_T(
                [r for r in part if r["variant"] == variant])
    return out


def paper_table(results, value, unit, bound=False):
    """bound: a cuda series whose rows carry roofline_ms (files before it do not) is followed
    by its bound column (nominal H200 rates: not a measurement)."""
    series = paper_series(results)
    if not series:
        return "_No `paper` preset results in this set._"
    keys = sorted(series, key=lambda k: (("cpu", "cuda").index(k[0]), k[1], k[2],
                                         VARIANT_ORDER.index(k[3]) if k[3] in VARIANT_ORDER else 99, k[3]))
    several_commits = len({k[2] for k in keys}) > 1
    Ts = sorted({T for k in keys for T in series[k]})
    columns = []  # (series key, header, cell of its row)
    for k in keys:
        b, d, c, v = k
        name = f"{v} {b} {d}" + (f" @{c}" if several_commits else "")
        columns.append((k, f"{name} ({unit})", lambda r: marked(value(r), r)))
        if bound and b == "cuda" and any(r["roofline_ms"] > 0 for r in series[k].values()):
            columns.append((k, f"{name} bound (ms)", lambda r: num(r["roofline_ms"]) if r["roofline_ms"] > 0 else "—"))
    header = ["T"] + [h for _, h, _ in columns]
    rows = [[T] + [cell(series[k][T]) if T in series[k] else "—" for k, _, cell in columns] for T in Ts]
    return table(header, rows)


def block_decode_time(results):
    return paper_table(results, lambda r: num(r["time_median_ms"]), "ms", bound=True)


def block_decode_memory(results):
    return paper_table(results, lambda r: mib(analysis.memory_bytes(r)), "MiB")


FLAT_TIME_CHANGE = 0.5    # "flat": fitted change over the T range within 50% of the median time
FLAT_MEMORY_RATIO = 1.05  # "constant": tracked peak memory within 5%


def time_verdict(trend):
    if trend.disturbed:
        return INCONCLUSIVE
    if not math.isfinite(trend.change):
        return NOT_MEASURED
    if abs(trend.change) <= FLAT_TIME_CHANGE:
        return "flat"
    return "grows" if trend.change > 0 else "falls"


def memory_verdict(trend):
    if trend.disturbed:
        return INCONCLUSIVE
    if not math.isfinite(trend.mem_ratio):
        return NOT_MEASURED
    return "constant" if trend.mem_ratio <= FLAT_MEMORY_RATIO else "grows"


def block_decode_trend(results):
    trends = analysis.decode_trends(results.bench_rows(presets=("paper",)))
    if not trends:
        return "_No `paper` preset results in this set._"
    rows = []
    for t in trends:
        rows.append([t.backend, t.dtype, t.commit, t.variant, t.form, f"{t.first['T']}→{t.last['T']}",
                     f"{num(t.first['time_median_ms'])} → {num(t.last['time_median_ms'])}", num(t.median_ms),
                     num(t.slope_ms_per_1k), f"{t.change * 100:+.0f}%", time_verdict(t),
                     f"{mib(analysis.memory_bytes(t.first))} → {mib(analysis.memory_bytes(t.last))}",
                     f"x{num(t.mem_ratio)}", memory_verdict(t)])
    return table(["backend", "dtype", "commit", "variant", "form", "T", "time (ms)", "median time (ms)",
                  "slope (ms per 1k tokens)", "fitted change over T", "time in T", "peak memory (MiB)",
                  "memory ratio", "memory in T"], rows)


def block_crossover(results):
    rows = []
    for preset in analysis.SEQUENCE_PRESETS:
        part = analysis.ok_rows(results.bench_rows(presets=(preset,), mode="prefill"))
        for (backend, dtype), sub in analysis.group(part, "backend", "dtype").items():
            for c in analysis.crossovers(sub):
                where = {"from T": str(c.T), "at every T": f"every T (from {c.T})",
                         "not in range": f"not up to T={c.max_T}"}[c.verdict]
                rows.append([preset, backend, dtype, c.commit, c.variant, INCONCLUSIVE if c.disturbed else where,
                             c.forms or "—", num(c.softmax_ms), num(c.variant_ms),
                             f"x{num(c.speedup_at_max)} at T={c.max_T}"])
    if not rows:
        return "_No `paper-prefill` or `scaling` results with softmax and a recurrent variant in this set._"
    return table(["preset", "backend", "dtype", "commit", "variant", "faster than softmax from T", "its form there",
                  "softmax (ms)", "variant (ms)", "softmax / variant at the largest T"], rows)


def paired_ratios(results, name):
    """The ratios a run measured in pairs (paired_ratio.hpp), by name, from file `name`'s
    context, with the spread bound of the run's quality limits."""
    context = results.contexts.get(name, {})
    spread = context.get("run_quality", {}).get("max_spread_p80_over_p20", 1.25)
    return {r["name"]: r for r in context.get("paired_ratios", [])}, spread


def paired_text(r):
    return f"{num(r['median'])} (in pairs, p20 {num(r['p20'])}, p80 {num(r['p80'])})"


def paired_verdict(r, spread, holds):
    """PASS / MISS from a paired ratio, inconclusive when its pairs spread more than a
    row may (the machine changed within pairs, not only between them)."""
    if r["p20"] > 0 and r["p80"] / r["p20"] > spread:
        return INCONCLUSIVE
    return "PASS" if holds(r["median"]) else "MISS"


def training_targets(results):
    """The backward issue's two CPU targets from the training preset's B1 H12 T4096 d64
    rows; the time ratio from the pairs the run measured at its end when it did."""
    rows = [r for r in analysis.ok_rows(results.bench_rows(presets=("training",)))
            if (r["B"], r["H"], r["T"], r["dk"]) == (1, 12, 4096, 64) and r["variant"] == "dfw"]
    pick = lambda mode, form: next((r for r in rows if r["mode"] == mode and r["form"] == form), None)
    fwd_rec, fwd_chunk, bwd_rec = pick("prefill", "recurrent"), pick("prefill", "chunked"), pick("bwd", "recurrent")
    bwd_chunk = pick("bwd", "chunked")
    pairs, spread = paired_ratios(results, "training-cpu.csv")
    paired = pairs.get("dfw chunked backward / chunked forward, B1 H12 T4096 d64", {})
    lines = []
    if paired.get("status") == "ok":
        lines.append(["dfw chunked backward / chunked forward, B1 H12 T4096 d64", paired_text(paired), "<= 3",
                      paired_verdict(paired, spread, lambda x: x <= 3)])
    elif bwd_chunk and fwd_chunk:
        ratio = bwd_chunk["time_median_ms"] / fwd_chunk["time_median_ms"]
        verdict = INCONCLUSIVE if bwd_chunk["disturbed"] or fwd_chunk["disturbed"] else (
            "PASS" if ratio <= 3 else "MISS")
        lines.append(["dfw chunked backward / chunked forward, B1 H12 T4096 d64", num(ratio), "<= 3", verdict])
    else:
        lines.append(["dfw chunked backward / chunked forward, B1 H12 T4096 d64", "—", "<= 3",
                      NOT_MEASURED + " (no chunked backward form yet)"])
    paired_rec = pairs.get("dfw recurrent backward / recurrent forward, B1 H12 T4096 d64", {})
    if paired_rec.get("status") == "ok":
        lines.append(["dfw recurrent backward / recurrent forward (information)", paired_text(paired_rec), "—", "—"])
    elif bwd_rec and fwd_rec:
        lines.append(["dfw recurrent backward / recurrent forward (information)",
                      num(bwd_rec["time_median_ms"] / fwd_rec["time_median_ms"]), "—", "—"])
    if bwd_rec:
        every_state = bwd_rec["state_bytes"] * bwd_rec["T"]  # B H dv m fp32 per token
        ratio = analysis.memory_bytes(bwd_rec) / every_state
        # Counted bytes, not a timing: a disturbed run cannot change them.
        verdict = ("PASS" if ratio <= 1 / 8 else "MISS") + (" (counted bytes: load does not move them)"
                                                             if bwd_rec["disturbed"] else "")
        lines.append([f"dfw checkpointed recurrent backward: peak tracked memory / every state stored "
                      f"({mib(analysis.memory_bytes(bwd_rec))} / {mib(every_state)} MiB)", num(ratio), "<= 0.125",
                      verdict])
    else:
        lines.append(["dfw checkpointed recurrent backward: peak memory / every state stored", "—", "<= 0.125",
                      NOT_MEASURED])
    commits = ", ".join(sorted({r["commit"] for r in rows})) or "—"
    return (f"Targets (B = 1, H = 12, T = 4096, d = m = 64, one run; commit {commits}):\n\n" +
            table(["target", "measured", "required", "result"], lines))


def block_training(results):
    """The training preset: forward + backward time per T and variant at each shape, the
    backward's peak memory, and where dfw's training step overtakes softmax's."""
    part = analysis.ok_rows(results.bench_rows(presets=("training",), mode="fwdbwd"))
    if not part:
        return "_No `training` results in this set: `dfwbench bench --preset training`._"
    out = [training_targets(results)]
    for (backend, dtype, B, H, dk), sub in analysis.group(part, "backend", "dtype", "B", "H", "dk").items():
        variants = analysis.variants_of(sub)
        cell = {(r["variant"], r["T"]): r for r in sub}
        body = []
        for T in sorted({r["T"] for r in sub}):
            row = [str(T)]
            for v in variants:
                r = cell.get((v, T))
                row.append(marked(f"{num(r['time_median_ms'])} / {mib(analysis.memory_bytes(r))}", r) if r else "—")
            body.append(row)
        forms = ", ".join(f"{v} {sub[[r['variant'] for r in sub].index(v)]['form']}" for v in variants)
        lines = []
        for c in analysis.crossovers(sub):
            if c.variant != "dfw":
                continue
            where = {"from T": f"from T = {c.T}", "at every T": f"at every measured T (from {c.T})",
                     "not in range": f"at no measured T up to {c.max_T}"}[c.verdict]
            verdict = INCONCLUSIVE if c.disturbed else where
            lines.append(f"dfw's training step is faster than softmax's (beyond both spreads, at that T and "
                         f"every larger one): {verdict}; softmax / dfw at T = {c.max_T}: "
                         f"x{num(c.speedup_at_max)} (commit {c.commit}).")
        out.append(f"{backend} {dtype}, B = {B}, H = {H}, d = m = {dk} ({forms}): forward + backward, "
                   "median ms / peak tracked MiB\n\n" +
                   table(["T"] + variants, body) + ("\n\n" + " ".join(lines) if lines else ""))
    return "\n\n".join(out)


def block_ceiling(results):
    rows = []
    for backend in analysis.backends_of(results.bench):
        for c in analysis.ceiling_summary(analysis.ceiling_rows(results, backend)):
            r = c.row
            rows.append([backend, c.mode, c.variant, c.form, c.dtype, c.commit, c.bound, marked(pct(c.best), r),
                         f"{r['preset']} T={r['T']} B={r['B']}", pct(c.median), c.disturbed,
                         num(r["gflops"]), num(r["gbps"]), num(r["ceiling_gflops"]), num(r["ceiling_gbps"])])
    if not rows:
        return "_No bench results with costs and ceilings in this set._"
    return table(["backend", "mode", "variant", "form", "dtype", "commit", "bound by", "best % of that ceiling",
                  "at", "median %", "disturbed rows", "GFLOP/s there", "GB/s there", "ceiling GFLOP/s",
                  "ceiling GB/s"], rows)


def target_result(target, rows):
    """The table's word for one cpu-targets verdict: a PASS or MISS read from the rows
    of a run with a disturbed row is inconclusive, a target without its measurement not
    measured. A verdict from the ratios measured in pairs (`measured_in`: pairs) stands
    on its own pairs: dfwbench made it inconclusive when they spread too far."""
    result = target["result"]
    if result == "bound":
        return "—"
    measured = target.get("measured")
    if result == "MISSING" or not target.get("found", True) or \
            not (isinstance(measured, (int, float)) and math.isfinite(measured)):
        return NOT_MEASURED
    rows_decide = target.get("measured_in") != "pairs"
    if result in ("PASS", "MISS") and (target.get("disturbed") or (rows_decide and analysis.disturbed(rows))):
        return INCONCLUSIVE
    return result


def target_measured(target):
    """The measured value as the table shows it: from the pairs, with the rows' value beside."""
    if not (target.get("found") and isinstance(target.get("measured"), (int, float))):
        return "—"
    if target.get("measured_in") != "pairs":
        return num(target["measured"])
    rows = target.get("row_measured")
    return f"{num(target['measured'])} in pairs" + (f" (rows: {num(rows)})" if rows else "")


def block_cpu_targets(results):
    """The verdicts a `cpu-targets` run wrote into its results file (bench_targets.cpp)."""
    return targets_table(results, "cpu-targets-cpu.csv", "cpu_targets", "cpu_model")


def targets_table(results, name, key, machine_key):
    """The verdicts a targets preset's run wrote into results file NAME under KEY."""
    targets = results.contexts.get(name, {}).get(key)
    if not targets:
        preset = name.rsplit("-", 1)[0]
        return f"_No `{preset}` results with target verdicts in this set (`build/dfwbench bench --preset {preset}`)._"
    rows_of_file = [r for r in results.bench if r["file"] == name]
    rows = []
    for t in targets:
        required = "an upper bound, not a target" if "bound" in (t["result"], t["relation"]) else t["relation"]
        rows.append([t["name"], target_measured(t), required, target_result(t, rows_of_file)])
    judged = {t["name"] for t in targets if t.get("measured_in") == "pairs"}
    pairs, _ = paired_ratios(results, name)
    for p in pairs.values():
        if p.get("status") == "ok" and p["name"] not in judged:
            rows.append([f"{p['name']}, measured in pairs at the run's end (information)", paired_text(p), "—", "—"])
    context = results.contexts[name]
    return (table(["target", "measured", "required", "result"], rows) +
            f"\n\nFrom `results/{results.machine_id}/{name}`: {context.get(machine_key, '?')}, "
            f"commit {context.get('commit', '?')}, ceilings measured in the same run.")


def block_gpu_targets(sets):
    """The `gpu-targets` verdicts of every machine set that has them (a GPU's), or one line."""
    name = "gpu-targets-cuda.csv"
    have = [r for r in sets if r.contexts.get(name, {}).get("gpu_targets")]
    if not have:
        return ("_No `gpu-targets` results yet: no GPU has run `scripts/gpu_check.sh` (it runs "
                "`dfwbench bench --preset gpu-targets`, which needs a CUDA device)._")
    return "\n\n".join(f"#### `{r.machine_id}`: {r.describe()}\n\n"
                        f"{targets_table(r, name, 'gpu_targets', 'gpu_name')}" for r in have)


def block_accuracy(results):
    if not results.check:
        return "_No accuracy results in this set (`dfwbench check --out results/<machine-id>/check-cpu.csv`)._"
    rows = []
    for (impl,), part in sorted(analysis.group(results.check, "impl").items(),
                                key=lambda kv: _impl_order(kv[0][0])):
        measured = [r for r in part if r["status"] != "UNSUPPORTED"]
        worst = max(measured, key=lambda r: r["rel_l2_y"] if math.isfinite(r["rel_l2_y"]) else math.inf,
                    default=None)
        variants = lambda rs: len({r["variant"] for r in rs})  # noqa: E731
        dtype = impl.split("/")[-1]
        rows.append([f"`{impl}`", variants(measured), sum(1 for r in part if r["status"] == "PASS"),
                     sum(1 for r in part if r["status"] == "FAIL"),
                     variants([r for r in part if r["status"] == "UNSUPPORTED"]),
                     num(worst["rel_l2_y"]) if worst else "—", f"`{worst['variant']}`" if worst else "—",
                     num(CHECK_LIMITS[dtype]) if dtype in CHECK_LIMITS else "—"])
    return table(["form/backend/dtype", "variants checked", "cases PASS", "cases FAIL", "variants unsupported",
                  "worst relative L2 (y)", "worst variant", "default limit"], rows)


def _impl_order(impl):
    form, backend, dtype = (impl.split("/") + ["", "", ""])[:3]
    forms = ("recurrent", "chunked", "blocked", "decode", "cudnn")
    return (backend != "cpu", dtype, forms.index(form) if form in forms else 9, impl)


def block_accuracy_exceptions(results):
    """FAIL rows, and PASS rows above the default limit (a variant's documented looser limit)."""
    groups = {}
    for r in results.check:
        dtype = r["dtype"]
        above = dtype in CHECK_LIMITS and r["rel_l2_y"] > CHECK_LIMITS[dtype]
        if r["status"] == "FAIL" or (r["status"] == "PASS" and above):
            key = (r["variant"], r["impl"], r["status"], r["note"])
            groups.setdefault(key, []).append(r)
    if not groups:
        return "_None: every checked case is within the default limit of its dtype._" if results.check else \
            "_No accuracy results in this set._"
    rows = []
    for (variant, impl, status, note), part in groups.items():
        worst = max(part, key=lambda r: r["rel_l2_y"])
        rows.append([f"`{variant}`", f"`{impl}`", status, len(part), num(worst["rel_l2_y"]),
                     f"{worst['shape']}, {worst['inputs']}", note.replace("|", "\\|") or "—"])
    return table(["variant", "form/backend/dtype", "status", "cases", "worst relative L2 (y)", "worst case",
                  "note from check"], rows)


def block_grid(results):
    rows_all = results.bench_rows(presets=("grid",))
    if not rows_all:
        return "_No `grid` preset results in this set (`dfwbench bench --preset grid`)._"
    out = []
    for (backend, dtype, mode, commit), part in analysis.group(rows_all, "backend", "dtype", "mode", "commit").items():
        rules = ordered((analysis.grid_key(r)[0] for r in part), ("softmax", "add", "gated", "delta", "decay"))
        maps = ordered((analysis.grid_key(r)[1] for r in part),
                       ("none", "identity", "elu1", "relu_proj", "favor", "dpfp"))
        cells = {}
        for r in part:
            cells.setdefault(analysis.grid_key(r), []).append(r)
        rows = []
        for rule in rules:
            row = [rule]
            for phi in maps:
                cell = cells.get((rule, phi), [])
                best = min(analysis.ok_rows(cell), key=lambda r: r["time_median_ms"], default=None)
                if best is not None:
                    row.append(marked(f"{num(best['time_median_ms'])} ({best['form']})", best))
                else:
                    row.append("/".join(sorted({r["status"] for r in cell})) or "—")
            rows.append(row)
        shape = " ".join(f"{k}={value_range(r[k] for r in part)}" for k in ("B", "H", "T", "dk", "dv"))
        out.append(f"{backend} {dtype} {mode}, commit {commit}, {shape}; median ms of the fastest form:\n\n"
                   + table(["rule \\ feature map"] + maps, rows))
    return "\n\n".join(out)


def block_peers(results):
    """dfwbench beside its PyTorch peers (scripts/peers.py), each ratio from one run."""
    comparisons = analysis.peer_comparisons(results)
    if not comparisons:
        return ("_No peer results in this set (`/usr/bin/python3 scripts/peers.py --preset paper`; "
                "needs PyTorch: `bash scripts/setup_peers.sh`)._")
    rows = []
    for c in comparisons:
        if c.ratios:
            lo, hi = min(c.ratios), max(c.ratios)
            ratio = f"{num(lo)}x" if num(lo) == num(hi) else f"{num(lo)}x – {num(hi)}x"
            p, d = c.last
            last = f"T={p['T']}: {num(d['time_median_ms'])} vs {num(p['time_median_ms'])} ms"
        else:
            ratio, last = "—", "—"
        rows.append([c.preset, c.variant, c.mode, c.shape, c.gates, c.form, f"`{c.peer}`",
                     value_range(c.Ts) if c.Ts else "—", ratio, last, c.verdict])
    peers = sorted({ctx["peers"] for ctx in results.contexts.values() if ctx.get("peers")})
    return (table(["preset", "variant", "mode", "shape", "gates", "dfwbench form", "peer", "T",
                   "peer time / dfwbench time", "dfwbench vs peer at the largest T", "verdict"], rows) +
            f"\n\nPeers: {', '.join(peers) or '?'}; ratio > 1: dfwbench faster; both sides timed in one run "
            "(the peers file's `paired_with`).")


def figure_block(kind):
    def block(results):
        figures = [f for f in analysis.figure_plan(results) if f.kind == kind]
        if not figures:
            return "_No figure: its results are absent from this set._"
        return "\n\n".join(f"![{f.name}](plots/{results.machine_id}/{f.name}.png)" for f in figures)
    return block


TABLES = {
    "sources": block_sources,
    "claims": block_claims,
    "protocol": block_protocol,
    "decode-time": block_decode_time,
    "decode-memory": block_decode_memory,
    "decode-trend": block_decode_trend,
    "crossover": block_crossover,
    "training": block_training,
    "ceiling": block_ceiling,
    "cpu-targets": block_cpu_targets,
    "accuracy": block_accuracy,
    "accuracy-exceptions": block_accuracy_exceptions,
    "grid": block_grid,
    "peers": block_peers,
    "fig-paper": figure_block("paper"),
    "fig-sequence": figure_block("sequence"),
    "fig-ceiling": figure_block("ceiling"),
    "fig-accuracy": figure_block("accuracy"),
    "fig-grid": figure_block("grid"),
    "fig-training": figure_block("training"),
}


def block_sass(root):
    """The fp16 kernel instantiations (the presets' cuda dtype), the chunked form's
    state scan (fp32, any dtype) and the fp32 backward kernels of results/static/sass-cuda.csv."""
    rows = read_static_csv(root, "sass-cuda.csv")
    if not rows:
        return ("_No static analysis yet: run `/usr/bin/python3 scripts/sass_check.py --build BUILD` on an "
                "nvcc build (needs cuobjdump: `pip install nvidia-cuda-cuobjdump`)._")
    backward = [r for r in rows if r["object"].endswith("backward_kernel.cu")]  # fp32 only
    fp16 = [r for r in rows if "<Fp16" in r["kernel"]]
    scan = [r for r in rows if r["kernel"] == "chunked_state_scan_kernel"]
    shown = fp16 + scan + backward
    kib = lambda b: f"{int(b) / 1024:.1f}"
    body = [[f"`{r['kernel']}`", r["regs"], f"{r['spill_store_bytes']} / {r['spill_load_bytes']}",
             kib(r["static_smem_bytes"]), kib(r["dyn_smem_bytes"]), f"{r['generic_ld']} / {r['generic_st']}",
             f"{r['ldg']} / {r['stg']}", r.get("ldg_128") or "0", f"{r['lds']} / {r['sts']}", r["ldsm"], r["cp_async"], r["hmma"],
             r["threads"], f"{r['warps_per_sm']} ({r['blocks_per_sm']} blocks; {r['limiter']})",
             r["paper_prefill_blocks_per_sm"] or "—", r["scaling_blocks_per_sm"] or "—"] for r in shown]
    others = [f"`{r['kernel']}` generic {r['generic_ld']} / {r['generic_st']}, spills {r['spill_store_bytes']} / "
              f"{r['spill_load_bytes']} B, HMMA {r['hmma']}" for r in rows if r not in shown and
              int(r["generic_ld"]) + int(r["generic_st"]) > 0]
    note = f"\n\nOther instantiations with generic LD / ST: {'; '.join(others)}." if others else ""
    return (f"ptxas {rows[0]['ptxas']}, sm_90; {len(fp16)} fp16 instantiations, "
            f"{'the chunked state scan, ' if scan else ''}and the "
            f"{len(backward)} fp32 backward kernels of the {len(rows)} in `results/static/sass-cuda.csv`:\n\n" +
            table(["kernel", "regs", "spill st / ld B", "static smem KiB", "dyn smem KiB", "generic LD / ST",
                   "LDG / STG", "of them LDG.128", "LDS / STS", "LDSM", "cp.async", "HMMA", "threads", "resident warps / SM",
                   "blocks launched / SM, paper-prefill", "scaling"], body) + note)


STATIC_TABLES = {"sass": block_sass}
# Blocks over every machine set at once (not one heading per machine).
SET_TABLES = {"gpu-targets": block_gpu_targets}


def per_machine(name, sets):
    """Block NAME for every machine set, each under its own heading."""
    if not sets:
        return "_No results yet in `results/<machine-id>/`: run `scripts/reproduce.sh`._"
    parts = [f"#### `{results.machine_id}`: {results.describe()}\n\n{TABLES[name](results)}" for results in sets]
    if name == "sources" and not any(r["backend"] == "cuda" for s in sets for r in s.bench + s.check):
        parts.append(NO_GPU)
    return "\n\n".join(parts)


def regenerate(text, sets, report_path, root):
    names = MARKER.findall(text)
    found = [n for n, _ in names]
    known = set(TABLES) | set(STATIC_TABLES) | set(SET_TABLES)
    unknown = sorted(set(found) - known)
    missing = sorted(known - set(found))
    repeated = sorted({n for n in found if found.count(n) > 1})
    problems = [f"unknown table(s) {', '.join(unknown)}" if unknown else "",
                f"missing table marker(s) {', '.join(missing)}" if missing else "",
                f"repeated table(s) {', '.join(repeated)}" if repeated else ""]
    problems = [p for p in problems if p]
    if problems:
        raise ValueError(f"{report_path}: " + "; ".join(problems))
    block = lambda name: (STATIC_TABLES[name](root) if name in STATIC_TABLES else
                          SET_TABLES[name](sets) if name in SET_TABLES else per_machine(name, sets))
    return MARKER.sub(lambda m: f"<!-- table:{m.group(1)}:begin -->\n{block(m.group(1))}\n"
                                f"<!-- table:{m.group(1)}:end -->", text)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=os.path.join(root, "results"),
                        help="results root, one directory per machine id")
    parser.add_argument("--report", default=os.path.join(root, "REPORT.md"), help="the report to update")
    parser.add_argument("--check", action="store_true", help="exit 1 if the tables differ from the results")
    args = parser.parse_args()
    try:
        sets = machine_sets(args.results)
        with open(args.report) as f:
            current = f.read()
        fresh = regenerate(current, sets, args.report, args.results)
    except (ResultsError, OSError, ValueError) as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    if args.check:
        if fresh == current:
            print(f"report: {args.report} matches {args.results}")
            return 0
        diff = difflib.unified_diff(current.splitlines(), fresh.splitlines(), f"{args.report} (now)",
                                    f"{args.report} (from {args.results})", lineterm="", n=1)
        print("\n".join(diff))
        print(f"report: {args.report} is out of date with {args.results}: run scripts/report.py", file=sys.stderr)
        return 1
    if fresh != current:
        with open(args.report + ".tmp.report", "w") as f:
            f.write(fresh)
        os.replace(args.report + ".tmp.report", args.report)
    print(f"report: {args.report} {'updated' if fresh != current else 'already up to date'} from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
