"""Reads dfwbench result files into validated rows (shared by plot.py and report.py).

A results root (results/) holds one directory per machine, named by its machine id
(`dfwbench machine-id`: cpu-<CPU model>-<N>c or gpu-<GPU name>); nothing else. In a
machine's directory:
  check-*.csv  accuracy rows of `dfwbench check --out` (CHECK_COLUMNS)
  peers-*.csv  rows of PyTorch peers timed by scripts/peers.py beside a dfwbench file of
               the same run (its JSON context names it: paired_with), in the bench
               schema with the peer's name as form (PEER_FORMS); kept apart in
               Results.peers so that no dfwbench series, verdict or crossover takes them in
  *.csv        bench rows of `dfwbench bench --out` (BENCH_COLUMNS, then the optional
               BENCH_LATER_COLUMNS, which older files lack: their rows read as not
               disturbed); the machine and commit columns fall back to "context" of the
               sibling NAME.json (Google Benchmark JSON: machine, else gpu_name or
               cpu_model; commit) when empty. A context that names a machine_id other
               than the directory's, or bench rows naming two machines, is an error:
               sets of two machines never mix.; "gates" (the generator's gate set) is
               "uniform" in files written before it existed
The one other directory, results/static/ (STATIC_DIR), holds what depends on the
compiler rather than the machine: scripts/sass_check.py's sass-cuda.csv, which
report.py reads on its own (read_static_csv); machine_sets skips it.
A malformed file raises ResultsError naming the file and line.
"""
import csv
import glob
import json
import math
import os
import re

BENCH_COLUMNS = (
    "preset,variant,spec,form,backend,dtype,mode,B,H,T,dk,dv,m,chunk,status,"
    "time_median_ms,time_p20_ms,time_p80_ms,repetitions,tokens_per_s,flops,bytes,"
    "gflops,gbps,ceiling_gflops,ceiling_gbps,frac_flops_ceiling,frac_bw_ceiling,"
    "peak_host_bytes,peak_device_bytes,state_bytes,machine,commit").split(",")
BENCH_INTS = ("B", "H", "T", "dk", "dv", "m", "chunk", "repetitions")
BENCH_FLOATS = tuple(c for c in BENCH_COLUMNS[BENCH_COLUMNS.index("time_median_ms"):]
                     if c not in ("repetitions", "machine", "commit"))
# Appended later (harness/results_row.cpp); absent from older files: (column, default).
BENCH_LATER_COLUMNS = (("threads", ""), ("disturbed", "0"), ("planned_bytes", ""), ("note", ""),
                       ("roofline_ms", ""))  # roofline_ms: cuda rows' nominal H200 bound, not a measurement
# The header `dfwbench bench` writes today (harness/results_row.cpp), for writers of the
# same schema (scripts/peers.py).
BENCH_CSV_COLUMNS = BENCH_COLUMNS + ["threads", "disturbed", "planned_bytes", "note", "gates", "roofline_ms"]
BENCH_STATUSES = ("ok", "oom", "unsupported", "error")
STATIC_DIR = "static"
MACHINE_ID = re.compile(r"(cpu|gpu)-[a-z0-9]+(-[a-z0-9]+)*")
MODES = ("prefill", "decode", "bwd", "fwdbwd")  # bwd, fwdbwd: bench --pass
BACKENDS = ("cpu", "cuda")

CHECK_COLUMNS = "variant,impl,form,backend,dtype,shape,inputs,rel_l2_y,max_abs_y,rel_l2_state,status,note".split(",")
CHECK_FLOATS = ("rel_l2_y", "max_abs_y", "rel_l2_state")
CHECK_STATUSES = ("PASS", "FAIL", "UNSUPPORTED")
CHECK_NO_MACHINE = "machine not recorded by check"
CHECK_NO_COMMIT = "commit not recorded by check"

# The paper's own variants first, then the other presets, in a fixed order so every
# plot and table lists them the same way.
VARIANT_ORDER = ("softmax", "dfw", "delta", "linear", "performer", "t2r", "gated", "fwp", "ssd")
FORM_ORDER = ("decode", "recurrent", "chunked", "blocked", "cudnn", "reference")
# scripts/peers.py's peers: name -> the dfwbench form it stands beside, per mode.
PEER_FORMS = {"torch_sdpa": {"prefill": "blocked", "decode": "decode"},
              "torch_eager": {"prefill": "blocked", "decode": "decode"},
              "torch_chunked": {"prefill": "chunked"},
              "torch_recurrent": {"prefill": "recurrent"},
              "torch_step": {"decode": "decode"},
              "fla_fused_recurrent_gla": {"prefill": "recurrent", "decode": "decode"},
              "fla_chunk_delta_rule": {"prefill": "recurrent"},
              "fla_fused_recurrent_delta_rule": {"prefill": "recurrent", "decode": "decode"}}
PEERS_PREFIX = "peers-"
DTYPE_ORDER = ("fp32", "fp16", "bf16", "fp64")


class ResultsError(Exception):
    """A results file that does not have the documented format."""


def _number(text, path, line, column, integer):
    if text == "":
        return math.nan
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise ResultsError(f"{path}:{line}: column {column} must be a number, got {text!r}") from None
    return value


def _read_csv(path, columns):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return _csv_rows(path, csv.reader(f), columns)
    except (UnicodeDecodeError, csv.Error) as e:
        raise ResultsError(f"{path}: not a readable CSV file ({e})") from None


def _csv_rows(path, reader, columns):
    try:
        header = next(reader)
    except StopIteration:
        raise ResultsError(f"{path}: empty file (expected a header line)") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise ResultsError(f"{path}:1: missing column(s) {', '.join(missing)}")
    rows = []
    for line_no, fields in enumerate(reader, start=2):
        if not fields:
            continue
        if len(fields) != len(header):
            raise ResultsError(f"{path}:{line_no}: {len(fields)} fields, the header has {len(header)}")
        rows.append((line_no, dict(zip(header, fields))))
    return rows


def _json_context(csv_path):
    json_path = os.path.splitext(csv_path)[0] + ".json"
    if not os.path.exists(json_path):
        return {}
    try:
        with open(json_path) as f:
            context = json.load(f).get("context", {})
    except (ValueError, AttributeError) as e:
        raise ResultsError(f"{json_path}: not a Google Benchmark JSON file ({e})") from None
    return context if isinstance(context, dict) else {}


def _check_choice(value, allowed, path, line, column):
    if value not in allowed:
        raise ResultsError(f"{path}:{line}: {column} must be one of {', '.join(allowed)}, got {value!r}")


def read_bench_csv(path, context):
    """Bench rows as dicts: ints for shapes (NaN when empty), floats for measures,
    disturbed as 0 or 1. context: the sibling JSON's "context" ({} when absent), for
    machine and commit."""
    rows = []
    for line, raw in _read_csv(path, BENCH_COLUMNS):
        for column, default in BENCH_LATER_COLUMNS:
            raw.setdefault(column, default)
        row = dict(raw)
        _check_choice(row["status"], BENCH_STATUSES, path, line, "status")
        _check_choice(row["mode"], MODES, path, line, "mode")
        _check_choice(row["backend"], BACKENDS, path, line, "backend")
        _check_choice(row["disturbed"], ("0", "1"), path, line, "disturbed")
        row["disturbed"] = int(row["disturbed"])
        for c in BENCH_INTS + ("threads",):
            row[c] = _number(raw[c], path, line, c, integer=True)
        for c in BENCH_FLOATS + ("planned_bytes", "roofline_ms"):
            row[c] = _number(raw[c], path, line, c, integer=False)
        for c in ("B", "H", "T", "dk", "dv"):
            if not isinstance(row[c], int) or row[c] < 0:
                raise ResultsError(f"{path}:{line}: {c} must be a non-negative integer, got {raw[c]!r}")
        if row["status"] == "ok" and not (row["time_median_ms"] > 0 and math.isfinite(row["time_median_ms"])):
            raise ResultsError(f"{path}:{line}: status ok needs a positive time_median_ms, got {raw['time_median_ms']!r}")
        if not row["machine"] or not row["commit"]:
            machine = context.get("machine") or context.get("gpu_name") or context.get("cpu_model") or ""
            row["machine"] = row["machine"] or str(machine) or "machine not recorded"
            row["commit"] = row["commit"] or str(context.get("commit", "")) or "commit not recorded"
        row["gates"] = raw.get("gates") or "uniform"  # the generator's gate set; files before it: uniform
        row["file"] = os.path.basename(path)
        rows.append(row)
    return rows


def read_check_csv(path):
    """Check rows as dicts; machine/commit are used when the file has those columns."""
    rows = []
    for line, raw in _read_csv(path, CHECK_COLUMNS):
        row = dict(raw)
        _check_choice(row["status"], CHECK_STATUSES, path, line, "status")
        for c in CHECK_FLOATS:
            row[c] = _number(raw[c], path, line, c, integer=False)
        row.setdefault("machine", "")
        row.setdefault("commit", "")
        if not row["machine"] or not row["commit"]:
            row["machine"], row["commit"] = CHECK_NO_MACHINE, CHECK_NO_COMMIT
        row["file"] = os.path.basename(path)
        rows.append(row)
    return rows


def read_bench_json(path):
    """Bench rows of a Google Benchmark JSON written by `dfwbench bench`: one row per case
    from its median, p20 and p80 aggregates (a case that did not run: its one entry)."""
    try:
        with open(path) as f:
            data = json.load(f)
        context, entries = data.get("context", {}), data["benchmarks"]
    except (ValueError, KeyError, AttributeError, TypeError) as e:
        raise ResultsError(f"{path}: not a Google Benchmark JSON file ({e})") from None
    cases = {}
    for i, b in enumerate(entries):
        if not isinstance(b, dict) or "variant" not in b or "run_name" not in b:
            raise ResultsError(f"{path}: benchmarks[{i}] is not a dfwbench case (no variant or run_name)")
        if b.get("time_unit", "ms") != "ms":
            raise ResultsError(f"{path}: benchmarks[{i}] has time_unit {b['time_unit']!r}, expected ms")
        row = cases.setdefault(b["run_name"], dict(b, time_median_ms=math.nan, time_p20_ms=math.nan,
                                                   time_p80_ms=math.nan))
        aggregate = b.get("aggregate_name")
        if aggregate in ("median", "p20", "p80"):
            row[f"time_{aggregate}_ms"] = float(b["real_time"])
    rows = []
    for row in cases.values():
        _check_choice(row.get("status"), BENCH_STATUSES, path, "?", "status")
        if row["status"] == "ok" and not row["time_median_ms"] > 0:
            raise ResultsError(f"{path}: case {row['run_name']} is ok but has no median time")
        row["disturbed"] = int(bool(row.get("disturbed", False)))
        row["machine"] = row.get("machine") or str(context.get("machine") or context.get("gpu_name")
                                                   or context.get("cpu_model") or "machine not recorded")
        row["commit"] = row.get("commit") or str(context.get("commit") or "commit not recorded")
        row["gates"] = row.get("gates") or "uniform"
        row["planned_bytes"] = float(row.get("planned_bytes", math.nan))
        row["file"] = os.path.basename(path)
        rows.append(row)
    return rows


def read_bench_file(path):
    """Bench rows of one results file wherever it lies: a CSV (machine and commit from its
    sibling JSON when empty); a JSON through the CSV beside it when there is one, else
    from its own aggregates."""
    stem, ext = os.path.splitext(path)
    if ext == ".json" and os.path.exists(stem + ".csv"):
        path, ext = stem + ".csv", ".csv"
    if ext == ".csv":
        return read_bench_csv(path, _json_context(path))
    if ext == ".json":
        return read_bench_json(path)
    raise ResultsError(f"{path}: not a bench results file (.csv or .json)")


class Results:
    """Every results file of one machine's directory: bench rows and check rows."""

    def __init__(self, directory):
        self.directory = directory
        self.machine_id = os.path.basename(os.path.normpath(directory))
        self.bench = []
        self.check = []
        self.peers = []  # PyTorch peers' rows (peers-*.csv), never mixed into bench
        self.files = []  # (basename, "bench" | "check" | "peers", rows)
        self.contexts = {}  # basename of a bench CSV -> its JSON context ({} when absent)
        if not os.path.isdir(directory):
            return
        for path in sorted(glob.glob(os.path.join(directory, "*.csv"))):
            name = os.path.basename(path)
            if name.startswith("check-"):
                rows = read_check_csv(path)
                self.check.extend(rows)
                self.files.append((name, "check", rows))
            else:
                self.contexts[name] = _json_context(path)
                recorded = self.contexts[name].get("machine_id", self.machine_id)
                if recorded != self.machine_id:
                    raise ResultsError(f"{os.path.splitext(path)[0]}.json: measured on machine {recorded!r}, "
                                       f"but it is in the set of {self.machine_id!r}")
                rows = read_bench_csv(path, self.contexts[name])
                kind = "peers" if name.startswith(PEERS_PREFIX) else "bench"
                if kind == "peers":
                    for r in rows:
                        if r["form"] not in PEER_FORMS or r["mode"] not in PEER_FORMS[r["form"]]:
                            raise ResultsError(f"{path}: {r['form']!r} in mode {r['mode']} is not a known peer "
                                               f"({', '.join(PEER_FORMS)})")
                (self.peers if kind == "peers" else self.bench).extend(rows)
                self.files.append((name, kind, rows))

        machines = ordered((r["machine"] for r in self.bench + self.peers), ())
        if len(machines) > 1:
            raise ResultsError(f"{directory}: rows of several machines ({' | '.join(machines)}); a set holds "
                               "one machine's results")
        self._attribute_check_rows()
        for r in self.bench + self.check + self.peers:
            r["machine_id"] = self.machine_id

    def describe(self):
        """'AMD EPYC (AVX2), 2 logical CPUs' (or the GPU's name) from the bench files'
        contexts; the vector ISA where they record it (cpu_isa)."""
        for context in self.contexts.values():
            if context.get("gpu_name"):
                return str(context["gpu_name"])
            if context.get("cpu_model"):
                isa = {"avx512": " (AVX-512)", "avx2": " (AVX2)"}.get(context.get("cpu_isa", ""), "")
                return f"{context['cpu_model']}{isa}, {context.get('num_cpus', '?')} logical CPUs"
        return " / ".join(ordered((r["machine"] for r in self.bench or self.check), ())) or "machine not recorded"

    def _attribute_check_rows(self):
        """check CSVs carry no machine/commit column: take them from the bench files of the
        same backend in this directory when those name exactly one machine and commit."""
        for backend in {r["backend"] for r in self.check if r["machine"] == CHECK_NO_MACHINE}:
            bench = [r for r in self.bench if r["backend"] == backend]
            machines = {r["machine"] for r in bench}
            commits = {r["commit"] for r in bench}
            if len(machines) != 1 or len(commits) != 1:
                continue
            files = ", ".join(sorted({r["file"] for r in bench}))
            for r in self.check:
                if r["backend"] == backend and r["machine"] == CHECK_NO_MACHINE:
                    r["machine"] = f"{next(iter(machines))} (as in {files})"
                    r["commit"] = f"{next(iter(commits))} (as in {files})"

    def bench_rows(self, presets=None, backend=None, mode=None):
        return [r for r in self.bench
                if (presets is None or r["preset"] in presets)
                and (backend is None or r["backend"] == backend)
                and (mode is None or r["mode"] == mode)]


def machine_sets(root):
    """One Results per machine directory of a results root, in name order (skipping
    empty directories and static/). A file directly in the root, or a directory whose name
    is not a machine id, is an error: every result belongs to one machine's set."""
    if not os.path.isdir(root):
        return []
    sets = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name.startswith(".") or name == STATIC_DIR:
            continue
        if not os.path.isdir(path):
            if name.endswith((".csv", ".json")):
                raise ResultsError(f"{path}: results belong in {root}/<machine-id>/ (`dfwbench machine-id`), "
                                   "not in the root")
            continue
        if not MACHINE_ID.fullmatch(name):
            raise ResultsError(f"{path}: not a machine id (cpu-<model>-<N>c or gpu-<name>, lower case)")
        results = Results(path)
        if results.files:
            sets.append(results)
    return sets


def read_static_csv(root, name):
    """The rows of results/static/NAME as dicts of strings, [] when the file is absent."""
    path = os.path.join(root, STATIC_DIR, name)
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and "kernel" not in rows[0]:
        raise ResultsError(f"{path}: no kernel column (written by scripts/sass_check.py?)")
    return rows


def ordered(values, order):
    """Unique values, those named in order first (in that order), then the rest as seen."""
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return [v for v in order if v in seen] + [v for v in seen if v not in order]


def provenance(rows):
    """'machine: ...; commit: ...' for a caption, every distinct value listed."""
    machines = ordered((r["machine"] for r in rows), ())
    commits = ordered((r["commit"] for r in rows), ())
    return f"machine: {' | '.join(machines)}; commit: {' | '.join(commits)}"


def docs_limits(path=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "MATH.md")):
    """{dtype: relative L2 limit} as docs/MATH.md section 10 states them (harness/accuracy.cpp
    holds the same numbers; tests/accuracy_test.cpp checks them against this line)."""
    with open(path) as f:
        found = re.search(r"relative L2 limits: fp32 `([0-9.e-]+)`, fp16 `([0-9.e-]+)`, bf16 `([0-9.e-]+)`", f.read())
    if not found:
        raise ValueError(f"{path}: no line 'relative L2 limits: fp32 `..`, fp16 `..`, bf16 `..`'")
    return dict(zip(("fp32", "fp16", "bf16"), map(float, found.groups())))
