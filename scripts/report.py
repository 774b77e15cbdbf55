#!/usr/bin/python3
"""Regenerates the tables of REPORT.md from dfwbench results, so no number is typed by hand.

  /usr/bin/python3 scripts/report.py [--results results/] [--report REPORT.md] [--check]

REPORT.md holds prose and marker pairs `<!-- table:NAME:begin -->` ... `<!-- table:NAME:end -->`;
everything between a pair is replaced by the generated block NAME (TABLES below). Every
name must appear exactly once. --check rewrites nothing: it exits 1 and prints a diff when
a block differs from what the results give. Exit 2 on malformed results or markers.
"""
import argparse
import difflib
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import analysis  # noqa: E402
from results_io import VARIANT_ORDER, Results, ResultsError, ordered  # noqa: E402

MARKER = re.compile(r"<!-- table:([a-z0-9-]+):begin -->\n(.*?)<!-- table:\1:end -->", re.S)


def no_gpu(presets):
    """The line that stands where a table's GPU columns or rows would be."""
    files = " or ".join(f"`results/{p}-cuda.csv`" for p in presets)
    return (f"_No GPU results yet: no CUDA rows (such as {files}) in the results. They appear here once "
            "`scripts/gpu_check.sh` has run on a CUDA machine and its results are copied into `results/`._")
PAPER_VARIANTS = ("softmax", "dfw", "delta")
CHECK_LIMITS = {"fp32": 1e-4, "fp16": 5e-3, "bf16": 2e-2}


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


# ---- the generated blocks ------------------------------------------------------------
def block_sources(results):
    if not results.files:
        return "_No results files yet in `results/`: run `scripts/reproduce.sh`._"
    rows = []
    for name, kind, file_rows in results.files:
        count = lambda s: sum(1 for r in file_rows if r["status"] == s)  # noqa: E731
        load = "—"
        if kind == "bench":
            presets = ", ".join(ordered((r["preset"] for r in file_rows), ()))
            counts = [count("ok"), count("oom"), count("unsupported"), count("error")]
            context = results.contexts.get(name, {})
            if isinstance(context.get("load_avg"), list) and context["load_avg"]:
                load = f"{num(float(context['load_avg'][0]))} on {context.get('num_cpus', '?')} CPUs"
        else:
            presets = "accuracy check"
            counts = [count("PASS"), "—", count("UNSUPPORTED"), count("FAIL")]
        rows.append([f"`{name}`", presets, ", ".join(analysis.backends_of(file_rows)), len(file_rows), *counts,
                     " / ".join(ordered((r["machine"] for r in file_rows), ())),
                     " / ".join(ordered((r["commit"] for r in file_rows), ())), load])
    return table(["file", "preset", "backend", "rows", "ok / PASS", "oom", "unsupported", "error / FAIL",
                  "machine", "commit", "load average at start"], rows)


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


def _claim_cells(results, backend):
    """The verdict of each claim (CLAIMS order) on one backend, from the tables below."""
    trends = {t.variant: t for t in analysis.decode_trends(results.bench_rows(presets=("paper",), backend=backend))}
    if not trends:
        return None
    cells = []
    for what, grows_expected in (("time", True), ("time", False), ("memory", True), ("memory", False)):
        names = ("softmax",) if grows_expected else ("dfw", "delta")
        parts, holds = [], True
        for name in names:
            if name not in trends:
                parts.append(f"{name} not measured")
                holds = False
                continue
            text, verdict = _trend_verdict(trends[name], what)
            parts.append(text)
            holds = holds and verdict == ("grows" if grows_expected else ("flat", "constant")[what == "memory"])
        cells.append(("holds: " if holds else "does not hold: ") + "; ".join(parts))
    prefill = analysis.ok_rows(results.bench_rows(presets=("paper-prefill",), backend=backend, mode="prefill"))
    crossings = []
    for (dtype,), part in analysis.group(prefill, "dtype").items():
        for c in analysis.crossovers(part):
            if c.verdict == "not in range":
                crossings.append(f"{c.variant} {dtype}: slower up to T={c.max_T}")
            else:
                crossings.append(f"{c.variant} {dtype}: faster from T={c.T} ({c.forms})")
    cells.append("; ".join(crossings) if crossings else "paper-prefill not measured")
    cells.append("not reproducible here (section 9)")
    return cells


CLAIMS = (
    ("softmax attention costs O(T) time per generated token", "4"),
    ("decaying fast weights (and the delta rule) cost O(1) time per generated token", "4"),
    ("softmax attention needs O(T) memory per sequence during generation", "4"),
    ("the recurrent rules need O(1) memory in T", "4"),
    ("the recurrent form runs fast: it overtakes softmax as sequences grow", "5"),
    ("decaying fast weights retain 99% of GPT-2 attention's performance", "9"),
)


def block_claims(results):
    columns = {b: _claim_cells(results, b) for b in ("cpu", "cuda")}
    rows = []
    for i, (claim, section) in enumerate(CLAIMS):
        row = [claim, section]
        for backend in ("cpu", "cuda"):
            if columns[backend] is not None:
                row.append(columns[backend][i])
            elif i == len(CLAIMS) - 1:
                row.append("not reproducible here (section 9)")
            else:
                row.append(f"no {'GPU' if backend == 'cuda' else 'CPU'} results yet")
        rows.append(row)
    return table(["claim (paper's abstract and speed figure)", "section", "dfwbench, CPU", "dfwbench, GPU"], rows)


def block_protocol(results):
    columns = {b: protocol_column(results, b) for b in ("cpu", "cuda")}
    header = ["", "paper (Mao 2022)", "dfwbench, CPU", "dfwbench, GPU"]
    rows = []
    for i, aspect in enumerate(PAPER_PROTOCOL):
        row = [aspect, PAPER_PROTOCOL[aspect]]
        for backend, name in (("cpu", "`results/paper-cpu.csv`"), ("cuda", "`results/paper-cuda.csv`")):
            col = columns[backend]
            if col is not None:
                row.append(col[aspect])
            else:
                row.append(f"no {'GPU' if backend == 'cuda' else 'CPU'} results yet ({name} absent)" if i == 0 else "—")
        rows.append(row)
    return table(header, rows)


def paper_series(results):
    """{(backend, dtype, variant): {T: fastest ok row}} of the paper preset."""
    ok = analysis.ok_rows(results.bench_rows(presets=("paper",)))
    out = {}
    for (backend, dtype), part in analysis.group(ok, "backend", "dtype").items():
        for variant in analysis.variants_of(part):
            out[(backend, dtype, variant)] = analysis.fastest_per_T([r for r in part if r["variant"] == variant])
    return out


def paper_table(results, value, unit):
    series = paper_series(results)
    if not series:
        return "_No `paper` preset results yet: run `scripts/reproduce.sh`._"
    keys = sorted(series, key=lambda k: (("cpu", "cuda").index(k[0]), k[1],
                                         VARIANT_ORDER.index(k[2]) if k[2] in VARIANT_ORDER else 99, k[2]))
    Ts = sorted({T for k in keys for T in series[k]})
    header = ["T"] + [f"{v} {b} {d} ({unit})" for b, d, v in keys]
    rows = [[T] + [value(series[k][T]) if T in series[k] else "—" for k in keys] for T in Ts]
    text = table(header, rows)
    if not any(k[0] == "cuda" for k in keys):
        text += "\n\n" + no_gpu(["paper"])
    return text


def block_decode_time(results):
    return paper_table(results, lambda r: num(r["time_median_ms"]), "ms")


def block_decode_memory(results):
    return paper_table(results, lambda r: mib(analysis.memory_bytes(r)), "MiB")


FLAT_TIME_CHANGE = 0.5    # "flat": fitted change over the T range within 50% of the median time
FLAT_MEMORY_RATIO = 1.05  # "constant": tracked peak memory within 5%


def time_verdict(trend):
    if abs(trend.change) <= FLAT_TIME_CHANGE:
        return "flat"
    return "grows" if trend.change > 0 else "falls"


def memory_verdict(trend):
    return "constant" if trend.mem_ratio <= FLAT_MEMORY_RATIO else "grows"


def block_decode_trend(results):
    trends = analysis.decode_trends(results.bench_rows(presets=("paper",)))
    if not trends:
        return "_No `paper` preset results yet._"
    rows = []
    for t in trends:
        rows.append([t.backend, t.dtype, t.variant, t.form, f"{t.first['T']}→{t.last['T']}",
                     f"{num(t.first['time_median_ms'])} → {num(t.last['time_median_ms'])}", num(t.median_ms),
                     num(t.slope_ms_per_1k), f"{t.change * 100:+.0f}%", time_verdict(t),
                     f"{mib(analysis.memory_bytes(t.first))} → {mib(analysis.memory_bytes(t.last))}",
                     f"x{num(t.mem_ratio)}", memory_verdict(t)])
    text = table(["backend", "dtype", "variant", "form", "T", "time (ms)", "median time (ms)",
                  "slope (ms per 1k tokens)", "fitted change over T", "time in T", "peak memory (MiB)",
                  "memory ratio", "memory in T"], rows)
    if not any(t.backend == "cuda" for t in trends):
        text += "\n\n" + no_gpu(["paper"])
    return text


def block_crossover(results):
    rows = []
    for preset in analysis.SEQUENCE_PRESETS:
        part = analysis.ok_rows(results.bench_rows(presets=(preset,), mode="prefill"))
        for (backend, dtype), sub in analysis.group(part, "backend", "dtype").items():
            for c in analysis.crossovers(sub):
                where = {"from T": str(c.T), "at every T": f"every T (from {c.T})",
                         "not in range": f"not up to T={c.max_T}"}[c.verdict]
                rows.append([preset, backend, dtype, c.variant, where, c.forms or "—", num(c.softmax_ms),
                             num(c.variant_ms), f"x{num(c.speedup_at_max)} at T={c.max_T}"])
    if not rows:
        return "_No `paper-prefill` or `scaling` results with softmax and a recurrent variant yet._"
    text = table(["preset", "backend", "dtype", "variant", "faster than softmax from T", "its form there",
                  "softmax (ms)", "variant (ms)", "softmax / variant at the largest T"], rows)
    if not any(r[1] == "cuda" for r in rows):
        text += "\n\n" + no_gpu(analysis.SEQUENCE_PRESETS)
    return text


def block_ceiling(results):
    rows = []
    for backend in ("cpu", "cuda"):
        for s in analysis.ceiling_summary(analysis.ceiling_rows(results, backend)):
            r = s.row
            rows.append([backend, s.mode, s.variant, s.form, s.dtype, s.bound, pct(s.best),
                         f"{r['preset']} T={r['T']} B={r['B']}", pct(s.median),
                         num(r["gflops"]), num(r["gbps"]), num(r["ceiling_gflops"]), num(r["ceiling_gbps"])])
    if not rows:
        return "_No bench results with costs and ceilings yet._"
    text = table(["backend", "mode", "variant", "form", "dtype", "bound by", "best % of that ceiling", "at",
                  "median %", "GFLOP/s there", "GB/s there", "ceiling GFLOP/s", "ceiling GB/s"], rows)
    if not any(r[0] == "cuda" for r in rows):
        text += "\n\n" + no_gpu(["paper", "paper-prefill"])
    return text


def block_cpu_targets(results):
    """The verdicts a `cpu-targets` run wrote into its results file (bench_targets.cpp)."""
    name = "cpu-targets-cpu.csv"
    targets = results.contexts.get(name, {}).get("cpu_targets")
    if not targets:
        return "_No `cpu-targets` results with target verdicts yet (`build/dfwbench bench --preset cpu-targets`)._"
    rows = []
    for t in targets:
        measured = num(t["measured"]) if t.get("found") else "—"
        required = "an upper bound, not a target" if t["result"] == "bound" else t["relation"]
        rows.append([t["name"], measured, required, "—" if t["result"] == "bound" else t["result"]])
    context = results.contexts[name]
    return (table(["target", "measured", "required", "result"], rows) +
            f"\n\nFrom `results/{name}`: {context.get('cpu_model', '?')}, commit {context.get('commit', '?')}, "
            f"ceilings measured in the same run.")


def block_accuracy(results):
    if not results.check:
        return "_No accuracy results yet: run `dfwbench check --out results/check-cpu.csv`._"
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
    text = table(["form/backend/dtype", "variants checked", "cases PASS", "cases FAIL", "variants unsupported",
                  "worst relative L2 (y)", "worst variant", "default limit"], rows)
    if not any(r["backend"] == "cuda" for r in results.check):
        text += "\n\n_No GPU accuracy results yet: there is no `results/check-cuda.csv`._"
    return text


def _impl_order(impl):
    form, backend, dtype = (impl.split("/") + ["", "", ""])[:3]
    return (backend != "cpu", dtype, ("recurrent", "chunked", "blocked", "decode").index(form)
            if form in ("recurrent", "chunked", "blocked", "decode") else 9, impl)


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
            "_No accuracy results yet._"
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
        return "_No `grid` preset results yet (`dfwbench bench --preset grid`)._"
    out = []
    for (backend, dtype, mode), part in analysis.group(rows_all, "backend", "dtype", "mode").items():
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
                    row.append(f"{num(best['time_median_ms'])} ({best['form']})")
                else:
                    row.append("/".join(sorted({r["status"] for r in cell})) or "—")
            rows.append(row)
        shape = " ".join(f"{k}={value_range(r[k] for r in part)}" for k in ("B", "H", "T", "dk", "dv"))
        out.append(f"{backend} {dtype} {mode}, {shape}; median ms of the fastest form:\n\n"
                   + table(["rule \\ feature map"] + maps, rows))
    return "\n\n".join(out)


def figure_block(kind):
    def block(results):
        figures = [f for f in analysis.figure_plan(results) if f.kind == kind]
        if not figures:
            return "_No figure yet: its results are absent._"
        return "\n\n".join(f"![{f.name}](plots/{f.name}.png)" for f in figures)
    return block


TABLES = {
    "sources": block_sources,
    "claims": block_claims,
    "protocol": block_protocol,
    "decode-time": block_decode_time,
    "decode-memory": block_decode_memory,
    "decode-trend": block_decode_trend,
    "crossover": block_crossover,
    "ceiling": block_ceiling,
    "cpu-targets": block_cpu_targets,
    "accuracy": block_accuracy,
    "accuracy-exceptions": block_accuracy_exceptions,
    "grid": block_grid,
    "fig-paper": figure_block("paper"),
    "fig-sequence": figure_block("sequence"),
    "fig-ceiling": figure_block("ceiling"),
    "fig-accuracy": figure_block("accuracy"),
    "fig-grid": figure_block("grid"),
}


def regenerate(text, results, report_path):
    names = MARKER.findall(text)
    found = [n for n, _ in names]
    unknown = sorted(set(found) - set(TABLES))
    missing = sorted(set(TABLES) - set(found))
    repeated = sorted({n for n in found if found.count(n) > 1})
    problems = [f"unknown table(s) {', '.join(unknown)}" if unknown else "",
                f"missing table marker(s) {', '.join(missing)}" if missing else "",
                f"repeated table(s) {', '.join(repeated)}" if repeated else ""]
    problems = [p for p in problems if p]
    if problems:
        raise ValueError(f"{report_path}: " + "; ".join(problems))
    return MARKER.sub(lambda m: f"<!-- table:{m.group(1)}:begin -->\n{TABLES[m.group(1)](results)}\n"
                                f"<!-- table:{m.group(1)}:end -->", text)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=os.path.join(root, "results"), help="results directory")
    parser.add_argument("--report", default=os.path.join(root, "REPORT.md"), help="the report to update")
    parser.add_argument("--check", action="store_true", help="exit 1 if the tables differ from the results")
    args = parser.parse_args()
    try:
        results = Results(args.results)
        with open(args.report) as f:
            current = f.read()
        fresh = regenerate(current, results, args.report)
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
