#!/usr/bin/python3
"""Times PyTorch peers beside dfwbench, in one run, under dfwbench's protocol.

For each preset (or one custom `dfwbench bench` sweep after `--`), this runs
`dfwbench bench --backend BACKEND` first (unless --no-bench), which writes this
machine's RESULTS/<machine-id>/NAME-BACKEND.csv, then, for every ok row of it that has a
peer (scripts/peer_forms.py: softmax blocked and decode, dfw and delta decode and
recurrent, dfw and gated chunked; on cuda the softmax and decode-step peers and fla's
kernels, scripts/peer_fla.py), times the peer on the same shape, gate set, dtype and
thread count and writes RESULTS/<machine-id>/peers-NAME-BACKEND.csv / .json in
dfwbench's results schema, the peer's name (torch_sdpa, fla_chunk_delta_rule, ...) in
the form column. report.py pairs each
peer row with its dfwbench row (REPORT.md "Beside PyTorch"); plot.py draws peers as
their own series.

Protocol, as `dfwbench bench` on the CPU (--backend cpu): inputs made once per case (normal q, k, v;
gates of the row's set with the generator's ranges; identity-delta keys L2-normalised);
one untimed warm-up run; --repetitions timings, each iterating run() until it has taken
--min-time seconds; median, p20 and p80 of the per-run times. A case whose p80/p20
exceeds 1.25, or whose threads waited for a core more than 5% of the time while preempted
more than 20 times a second, is timed again, up to --attempts; one still so is marked
disturbed. torch.set_num_threads(the dfwbench row's threads). Peak memory: the growth of
the process's peak resident set (VmHWM, reset through /proc/self/clear_refs) over the
peer's prepare() and one run(), from after the inputs were made: what the peer itself
allocates (its caches, states, copies and temporaries), as dfwbench's peak_host_bytes
counts what a form allocates. A case whose inputs and intermediates (estimated) do not
fit in MemAvailable gets an oom row. flops and bytes are the dfwbench row's (same math).
On the GPU (--backend cuda), as `dfwbench bench --backend cuda`: q, k, v in the row's
dtype, gates, s0 and the feature weights fp32; a peer that cannot take the row (fla's
chunk_delta_rule: fp16 / bf16 only, K <= 256) gets an unsupported row; each run timed by CUDA events with the
L2 flushed before it (a buffer of twice the L2 zeroed), iterated to --min-time of timed
runs per repetition; disturbed: p80/p20 > 1.25 after the attempts; peak memory: the
caching allocator's peak over prepare() and one run, less what was allocated before
(peak_device_bytes); oom: planned beyond the device's free memory.

Before a peer is timed for a (variant, mode, gate set), it is checked on a small shape
(B 2, H 2, T 150, d 16) against dfwbench's float64 reference (`dfwbench eval --form
reference --dtype fp64`): relative L2 of y within docs/MATH.md's limit for the row's
dtype (fp32 1e-4, fp16 5e-3, bf16 2e-2) and no NaN/Inf. A peer that fails, or raises, is
not timed: its rows get status error and the error in note.

Runs only where PyTorch is importable: with this interpreter, else with
.venv-peers/bin/python (made by `bash scripts/setup_peers.sh`); otherwise it says so and
exits 3, as it does for --backend cuda where PyTorch sees no CUDA device. Exit 0 when
every step ran, 1 when a peer failed its check, 2 on bad usage.

  /usr/bin/python3 scripts/peers.py --preset paper --preset paper-prefill --preset cpu-targets
  /usr/bin/python3 scripts/peers.py --name softmax-16k -- --variants softmax --forms blocked \
      --seqlens 16384 --batch 1 --heads 12
  python3 scripts/peers.py --backend cuda --name paper-prefill-peers -- --preset paper-prefill \
      --dtype fp16 --filter 'T=(512|1920) '        (a GPU machine: scripts/gpu_check.sh)
"""
import argparse
import ctypes
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PYTHON = os.path.join(ROOT, ".venv-peers", "bin", "python")
NO_TORCH_EXIT = 3


def _torch_or_reexec():
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    if os.path.exists(VENV_PYTHON) and not os.environ.get("DFW_PEERS_IN_VENV"):
        os.environ["DFW_PEERS_IN_VENV"] = "1"  # once: the venv's python is a link to this one
        os.execv(VENV_PYTHON, [VENV_PYTHON] + sys.argv)
    print("peers: PyTorch is not importable here; `bash scripts/setup_peers.sh` installs it into .venv-peers "
          "(the main job and the tests never need it)", file=sys.stderr)
    sys.exit(NO_TORCH_EXIT)


if __name__ == "__main__" and not any(a in ("-h", "--help") for a in sys.argv[1:]):
    _torch_or_reexec()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results_io import BENCH_CSV_COLUMNS, docs_limits, read_bench_csv  # noqa: E402

LIMITS = docs_limits()  # docs/MATH.md: relative L2 by dtype
MAX_SPREAD, MAX_RUN_DELAY, MAX_PREEMPTIONS = 1.25, 0.05, 20.0  # as harness/run_quality.hpp
CHECK_SHAPE = dict(B=2, H=2, T=150, dk=16, dv=16)
MARGIN = 64 << 20


def parse_spec(spec):
    fields = dict(item.split("=", 1) for item in spec.split(",") if "=" in item)
    return {"rule": fields["rule"], "phi": fields.get("phi", "identity"), "norm": fields.get("norm") == "on"}


# ---- inputs ---------------------------------------------------------------------
def make_inputs(variant, B, H, T, dk, dv, gates, seed, decode_state):
    """The problem as dfwbench's generator draws it (variants/generator.cpp), in torch."""
    import torch
    g = torch.Generator().manual_seed(seed)
    m = dk
    x = {"q": torch.randn(B, H, T, dk, generator=g), "k": torch.randn(B, H, T, dk, generator=g),
         "v": torch.randn(B, H, T, dv, generator=g)}
    rule = variant["rule"]
    if rule == "delta" and variant["phi"] == "identity":
        x["k"] = x["k"] / x["k"].norm(dim=-1, keepdim=True)
    if variant["phi"] == "relu_proj":
        x["w"] = torch.randn(H, m, dk, generator=g) / dk ** 0.5
        x["b"] = 0.1 * torch.randn(H, m, generator=g)
    widths = {"decay": {"gate_v": dv, "gate_k": m}, "delta": {"beta": 1}, "gated": {"gate": 1}}.get(rule, {})
    for name, n in widths.items():
        shape = (B, H, T) + ((n,) if name.startswith("gate_") else ())
        lo = 1.0 / max(n, 4)
        if name == "beta" or gates == "uniform":
            t = lo + (1 - 2 * lo) * torch.rand(shape, generator=g)
        elif gates == "ones":
            t = torch.ones(shape)
        elif gates == "tiny":
            t = torch.full(shape, 1e-6)
        elif gates == "mixed":
            near_one = 0.9 + 0.1 * torch.rand(shape, generator=g)
            t = torch.where(((torch.arange(T) // 5) % 2 == 0).reshape((1, 1, T) + (1,) * (len(shape) - 3)),
                            torch.full(shape, 1e-6), near_one)
        else:
            raise ValueError(f"gate set {gates!r} has no peer inputs")
        x[name] = t
    if decode_state and rule != "softmax":
        x["s0"] = 0.1 * torch.randn(B, H, dv, m, generator=g)
    return x


TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def placed(x, device, dtype):
    """The inputs on `device`: q, k, v in `dtype` (a dfwbench dtype name); s0, the feature
    weights and the gates (beta too) fp32 as drawn, as dfwbench's CUDA forms keep them
    (kernels/device_inputs.hpp)."""
    import torch
    cast = getattr(torch, TORCH_DTYPES[dtype])
    return {n: t.to(device=device, dtype=cast if n in ("q", "k", "v") else t.dtype) for n, t in x.items()}


def prepared_peer(factory, variant, row, x, device):
    """The peer for this row, prepared on x. Made under torch.device(device), so what
    prepare() allocates lands there; run() is timed outside it (the context intercepts
    every torch call, 1-3 us each)."""
    import torch
    with torch.device(device):
        peer = factory(variant, row["chunk"] or 64)
        peer.prepare(x)
    return peer


# ---- the accuracy check ---------------------------------------------------------
def check_peer(dfwbench, row, peer_name, factory, variant, device):
    """(ok, message): the peer against dfwbench's float64 reference on a small shape."""
    import numpy as np
    import torch
    s = CHECK_SHAPE
    limit = LIMITS.get(row["dtype"], LIMITS["fp32"])
    decode = row["mode"] == "decode"
    T = 1 if decode and variant["rule"] != "softmax" else s["T"]
    x = make_inputs(variant, s["B"], s["H"], T, s["dk"], s["dv"], row["gates"], 7, decode)
    with tempfile.TemporaryDirectory() as d_in, tempfile.TemporaryDirectory() as d_out:
        for name, t in x.items():
            np.save(os.path.join(d_in, name + ".npy"), t.numpy())
        spec = re.sub(r"\bm=dk\b", f"m={s['dk']}", row["spec"])  # eval takes a number
        cmd = [dfwbench, "eval", "--variant", spec, "--form", "reference", "--dtype", "fp64",
               "--mode", "decode_step" if decode else "sequence", "--in", d_in, "--out", d_out]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            return False, f"dfwbench eval failed: {r.stderr.strip()[-300:]}"
        ref = np.load(os.path.join(d_out, "y.npy"))
    try:
        with torch.no_grad():
            peer = prepared_peer(factory, variant, row, placed(x, device, row["dtype"]), device)
            peer.run()
            y = peer.output().double().cpu().numpy()
    except Exception as e:  # a peer that cannot run this case is reported, not timed
        return False, f"{peer_name} raised {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    if y.shape != ref.shape:
        return False, f"{peer_name} gave y of shape {y.shape}, the reference {ref.shape}"
    if not np.all(np.isfinite(y)):
        return False, f"{peer_name} gave NaN/Inf"
    rel = float(np.linalg.norm(y - ref) / max(np.linalg.norm(ref), 1e-300))
    if rel > limit:
        return False, f"{peer_name}: relative L2 {rel:.3g} > {limit:g} against the float64 reference"
    return True, f"rel L2 {rel:.2g} vs float64 reference"


# ---- timing ---------------------------------------------------------------------
def _task_counters():
    """(run delay ns, involuntary switches) summed over this process's threads."""
    delay = switches = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                delay += int(f.read().split()[1])
            with open(f"/proc/self/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("nonvoluntary_ctxt_switches"):
                        switches += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return delay, switches


def _quantile(values, q):
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def time_runs(run, repetitions, min_time, threads):
    """Per-run times (s) of `repetitions` timings, and the contention seen meanwhile."""
    times = []
    delay0, sw0 = _task_counters()
    t_all = time.perf_counter()
    for _ in range(repetitions):
        n, start = 0, time.perf_counter()
        while True:
            run()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        times.append(elapsed / n)
    wall = time.perf_counter() - t_all
    delay1, sw1 = _task_counters()
    return times, (delay1 - delay0) * 1e-9 / (wall * threads), (sw1 - sw0) / wall


def quality(times, delay_fraction, preemptions):
    spread = _quantile(times, 0.8) / _quantile(times, 0.2)
    if spread > MAX_SPREAD:
        return f"p80/p20 = {spread:.2f} > {MAX_SPREAD}"
    if delay_fraction > MAX_RUN_DELAY and preemptions > MAX_PREEMPTIONS:
        return f"waited for a core {100 * delay_fraction:.1f}% of the time, {preemptions:.0f} preemptions/s"
    return ""


def _libc_trim():
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def planned_bytes(row, peer_name, T_in):
    """An estimate of what the peer allocates for inputs of T_in tokens: inputs (and the
    caches or copies made of them), outputs, and its largest temporaries."""
    B, H, T, dk, dv = row["B"], row["H"], row["T"], row["dk"], row["dv"]
    inputs = 4 * B * H * T_in * (2 * dk + 3 * dv) * 2
    extra = 0
    if peer_name == "torch_eager" and row["mode"] == "prefill":
        extra = 3 * 4 * B * H * T * T + T * T  # scores, masked, softmax; the bool bias
    elif peer_name == "torch_eager":
        extra = 2 * 4 * B * H * T_in * (dk + dv)  # the concatenated cache
    elif peer_name == "torch_chunked":
        extra = 4 * B * H * (T + 64) * (64 + 4 * (dk + dv)) + 3 * 4 * B * H * ((T + 63) // 64) * dk * dv
    return inputs + extra


class HostClock:
    """PeerRun's CPU side: wall-clock timings with the contention seen meanwhile, peak
    memory as the growth of the peak resident set, MemAvailable (peer_cuda.CudaClock
    is the GPU's)."""
    device, memory_field, free_memory = "cpu", "peak_host_bytes", "MemAvailable"
    tunes_on_first_call = False

    def __init__(self, threads):
        self.threads, self.base = threads, 0

    def time_runs(self, run, repetitions, min_time):
        return time_runs(run, repetitions, min_time, self.threads)

    @staticmethod
    def free_bytes():
        return _mem_available()

    def start_peak(self):
        _libc_trim()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS
        self.base = _status_kib("VmRSS")

    def peak(self):
        return (_status_kib("VmHWM") - self.base) * 1024

    @staticmethod
    def release():
        _libc_trim()


class PeerRun:
    def __init__(self, args, threads):
        import torch
        self.torch, self.args = torch, args
        torch.set_num_threads(threads)
        if args.backend == "cuda":
            from peer_cuda import CudaClock
            self.clock = CudaClock()
        else:
            self.clock = HostClock(threads)

    def measure(self, row, peer_name, factory, variant):
        """A results row for the peer, or its reason for not running (status, note)."""
        torch, args, clock = self.torch, self.args, self.clock
        decode = row["mode"] == "decode"
        T = 1 if decode and variant["rule"] != "softmax" else (row["T"] + 1 if decode else row["T"])
        planned = planned_bytes(row, peer_name, T)
        if planned + MARGIN > clock.free_bytes():
            return dict(status="oom", planned_bytes=planned,
                        note=f"planned {planned / 2**30:.2f} GiB > {clock.free_memory} less {MARGIN >> 20} MiB")
        x = placed(make_inputs(variant, row["B"], row["H"], T, row["dk"], row["dv"], row["gates"], args.seed, decode),
                   clock.device, row["dtype"])
        try:
            return self._measure(x, factory, variant, row, planned)
        except torch.cuda.OutOfMemoryError as e:  # the plan is an estimate: a case past the device is a result
            clock.release()
            return dict(status="oom", planned_bytes=planned, note=f"CUDA out of memory: {str(e).splitlines()[0]}")

    def _measure(self, x, factory, variant, row, planned):
        torch, args, clock = self.torch, self.args, self.clock
        with torch.no_grad():
            if clock.tunes_on_first_call:
                # A throwaway run first: Triton tunes a kernel for a new shape on its first call,
                # with buffers of its own (256 MiB) that are not the peer's memory.
                prepared_peer(factory, variant, row, x, clock.device).run()
                clock.release()
            clock.start_peak()
            peer = prepared_peer(factory, variant, row, x, clock.device)
            peer.run()  # warm-up; its peak is the peak of a run
            peak = clock.peak()
            notes = []
            for attempt in range(1, args.attempts + 1):
                times, delay, preempt = clock.time_runs(peer.run, args.repetitions, args.min_time)
                why = quality(times, delay, preempt)
                if not why:
                    if notes:
                        notes.append(f"quiet at timing {attempt}")
                    break
                notes.append(f"timing {attempt}: {why}")
        median = statistics.median(times) * 1e3
        out = dict(status="ok", time_median_ms=median, time_p20_ms=_quantile(times, 0.2) * 1e3,
                   time_p80_ms=_quantile(times, 0.8) * 1e3, repetitions=len(times), peak_host_bytes=0,
                   peak_device_bytes=0, disturbed=1 if why else 0, planned_bytes=planned, note="; ".join(notes))
        out[clock.memory_field] = peak
        del x, peer
        clock.release()
        return out


def peer_row(row, peer_name, measured, machine, commit, threads):
    """dfwbench's results schema for one peer case."""
    out = {c: "" for c in BENCH_CSV_COLUMNS}
    for c in ("preset", "variant", "spec", "backend", "dtype", "mode", "B", "H", "T", "dk", "dv", "m", "chunk",
              "flops", "bytes", "ceiling_gflops", "ceiling_gbps", "state_bytes", "gates"):
        out[c] = row[c]
    out.update(form=peer_name, machine=machine, commit=commit, threads=threads, peak_device_bytes=0,
               disturbed=0)
    out.update(measured)
    if out["status"] == "ok":
        seconds = out["time_median_ms"] * 1e-3
        tokens = row["B"] if row["mode"] == "decode" else row["B"] * row["T"]
        out["tokens_per_s"] = tokens / seconds
        out["gflops"] = row["flops"] / seconds * 1e-9
        out["gbps"] = row["bytes"] / seconds * 1e-9
        out["frac_flops_ceiling"] = out["gflops"] / row["ceiling_gflops"] if row["ceiling_gflops"] else ""
        out["frac_bw_ceiling"] = out["gbps"] / row["ceiling_gbps"] if row["ceiling_gbps"] else ""
    return out


def fmt(value):
    if isinstance(value, float):
        return "" if value != value else f"{value:.9g}"
    return str(value)


def write_results(path_stem, rows, context):
    import csv
    with open(path_stem + ".csv.tmp.peers", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(BENCH_CSV_COLUMNS)
        for r in rows:
            w.writerow([fmt(r.get(c, "")) for c in BENCH_CSV_COLUMNS])
    with open(path_stem + ".json.tmp.peers", "w") as f:
        json.dump({"context": context, "rows": len(rows)}, f, indent=1)
    os.replace(path_stem + ".csv.tmp.peers", path_stem + ".csv")
    os.replace(path_stem + ".json.tmp.peers", path_stem + ".json")


def run_bench(args, name, bench_args, results_dir):
    cmd = [args.dfwbench, "bench", "--backend", args.backend, "--results-dir", results_dir, "--out", name] + bench_args
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.filter:
        cmd += ["--filter", args.filter]
    print("peers: running", " ".join(cmd), flush=True)
    if subprocess.run(cmd).returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dfwbench", default=os.path.join(ROOT, "build", "dfwbench"), help="the dfwbench binary")
    parser.add_argument("--backend", choices=("cpu", "cuda"), default="cpu",
                        help="where dfwbench and the peers run (cuda: PyTorch with a CUDA device)")
    parser.add_argument("--preset", action="append", default=[], help="a dfwbench preset (repeatable)")
    parser.add_argument("--name", help="results name of the custom sweep given after --")
    parser.add_argument("--results", default=os.path.join(ROOT, "results"), help="results root")
    parser.add_argument("--no-bench", action="store_true",
                        help="time the peers against the dfwbench file already there (not one run: avoid)")
    parser.add_argument("--threads", type=int, default=0, help="threads for both (default: dfwbench's default)")
    parser.add_argument("--filter", help="passed to dfwbench bench --filter")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.05)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="-- then `dfwbench bench` flags (with --name)")
    args = parser.parse_args()
    bench_args = args.bench_args[1:] if args.bench_args[:1] == ["--"] else args.bench_args
    if bool(bench_args) != bool(args.name) or (args.name and args.preset):
        parser.error("give --preset P (repeatable), or --name NAME -- <dfwbench bench flags>")
    if not args.preset and not args.name:
        parser.error("nothing to run: give --preset P or --name NAME -- <flags>")
    if args.name and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", args.name):
        parser.error("--name: lower-case letters, digits and dashes")
    if not os.access(args.dfwbench, os.X_OK):
        print(f"peers: {args.dfwbench} is not an executable dfwbench (build it: scripts/test.sh or reproduce.sh)",
              file=sys.stderr)
        return 2
    import torch
    if args.backend == "cuda" and not torch.cuda.is_available():
        print(f"peers: PyTorch {torch.__version__} sees no CUDA device here: --backend cuda runs on a GPU machine "
              "(scripts/gpu_check.sh)", file=sys.stderr)
        return NO_TORCH_EXIT
    from peer_forms import peers_for, supported, unsupported_reason
    peers_here, peers_note = peers_for(args.backend)
    if peers_note:
        print(f"peers: {peers_note}", flush=True)
    machine_id = subprocess.run([args.dfwbench, "machine-id", "--backend", args.backend], capture_output=True,
                                text=True, check=True).stdout.strip()
    results_dir = os.path.join(args.results, machine_id)
    os.makedirs(results_dir, exist_ok=True)
    sweeps = [(p, ["--preset", p]) for p in args.preset] + ([(args.name, bench_args)] if args.name else [])
    failed = False
    for name, flags in sweeps:
        if not args.no_bench:
            run_bench(args, f"{name}-{args.backend}", flags, results_dir)
        bench_csv = os.path.join(results_dir, f"{name}-{args.backend}.csv")
        with open(os.path.join(results_dir, f"{name}-{args.backend}.json")) as f:
            context = json.load(f).get("context", {})
        rows = [r for r in read_bench_csv(bench_csv, context) if r["status"] == "ok"]
        threads = args.threads or int(context.get("threads") or len(os.sched_getaffinity(0)))
        runner = PeerRun(args, threads)
        cases = []
        for r in rows:
            variant = parse_spec(r["spec"])
            peers = peers_here.get((variant["rule"], r["form"], r["mode"]), {}) if supported(variant) else {}
            cases += [(r, n, f, variant) for n, f in peers.items()]
        checked, out_rows = {}, []
        machine, commit = rows[0]["machine"] if rows else "", rows[0]["commit"] if rows else ""
        clock = ("CUDA events around run(), the L2 flushed before each" if args.backend == "cuda"
                 else "time.perf_counter around run()")
        peer_context = dict(context, peers="PyTorch " + torch.__version__ + (f", {peers_note}" if peers_note else ""),
                            torch_threads=threads,
                            paired_with=os.path.basename(bench_csv),
                            peer_protocol=dict(repetitions=args.repetitions, min_time_s=args.min_time,
                                               attempts=args.attempts, seed=args.seed,
                                               clock=clock,
                                               check="y vs dfwbench eval --form reference --dtype fp64, "
                                                     "B2 H2 T150 d16, relative L2 within docs/MATH.md's "
                                                     "limit of the row's dtype"))
        stem = os.path.join(results_dir, f"peers-{name}-{args.backend}")
        start = time.time()
        for i, (r, peer_name, factory, variant) in enumerate(cases, 1):
            key = (r["spec"], r["mode"], r["gates"], r["dtype"], peer_name)
            why_not = unsupported_reason(peer_name, r)
            if why_not:
                checked[key] = (None, why_not)
            if key not in checked:
                checked[key] = check_peer(args.dfwbench, r, peer_name, factory, variant, args.backend)
                print(f"peers: check {r['variant']} {peer_name} {r['mode']} gates={r['gates']}: "
                      f"{'PASS' if checked[key][0] else 'FAIL'} ({checked[key][1]})", flush=True)
            ok, message = checked[key]
            if ok is None:
                measured = dict(status="unsupported", note=message)
            elif not ok:
                failed = True
                measured = dict(status="error", note=f"peer fails the accuracy check: {message}")
            else:
                measured = runner.measure(r, peer_name, factory, variant)
            out_rows.append(peer_row(r, peer_name, measured, machine, commit, threads))
            write_results(stem, out_rows, peer_context)
            shown = (f"{measured['time_median_ms']:.4g} ms (dfwbench {r['form']}: {r['time_median_ms']:.4g} ms)"
                     if measured["status"] == "ok" else measured["status"])
            print(f"peers: [{i}/{len(cases)}, {time.time() - start:.0f} s] {r['variant']} {peer_name} {r['mode']} "
                  f"B={r['B']} H={r['H']} T={r['T']} dk={r['dk']} gates={r['gates']}: {shown}"
                  f"{' (disturbed)' if measured.get('disturbed') else ''}", flush=True)
        print(f"peers: wrote {stem}.csv and .json ({len(out_rows)} rows)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
