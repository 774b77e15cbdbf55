#!/usr/bin/python3
"""Mutation suite: semantic mutations of the source (MUTANTS below, each an exact text
edit of one file), each of which the tests must catch ("kill").

Each mutant is applied to a scratch copy of the working tree (--work, default
/tmp/dfw_mutants: src/ copied from the tracked and untracked-not-ignored files, build/
one CPU build reused by every mutant, so each rebuild is incremental), built, and tested
with the test command's ctest: first the tests its entry names (a ctest -R regex), then,
if none of them fails, every test but hog_test, stopping at the first failure. The file
is restored before the next mutant. A mutant whose edit no longer matches its file, or
that does not compile, is an error of this list, not a kill.

  /usr/bin/python3 scripts/mutants.py [--only NAME,...] [--rotate N] [--table FILE] [--list]
                                      [--in-place BUILD_DIR [--baseline-passed]]

--in-place BUILD_DIR mutates the working tree itself and rebuilds BUILD_DIR, an existing
build of it (CI: the test command's build-ci, so no second full build is paid); each file
is restored after its mutant (also on SIGINT/SIGTERM) and BUILD_DIR rebuilt unmutated.
Before the mutants, the tests they name run on the unmutated tree (a mutant is killed
only by a test that passed without it); --baseline-passed skips that when the whole
suite has just passed in BUILD_DIR (CI, right after test.sh).

--rotate N runs N mutants chosen by the commit hash (CI: a different few per commit);
--table FILE writes the mutant -> killing test table as Markdown (results/mutants.md).
Prints the table; exits 1 when a mutant survives or is in error, 0 when all are killed.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import namedtuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Mutant = namedtuple("Mutant", "name file original replacement tests why")

MUTANTS = [
    Mutant("chunked-carry-decay-squared", "variants/cpu/chunked_cpu.cpp",
           "return st * (tb[k] * ta[l * kRegsPerLanes + h]); };",
           "return st * (tb[k] * ta[l * kRegsPerLanes + h]) * (tb[k] * ta[l * kRegsPerLanes + h]); };",
           r"Chunk|Forms", "the carried state decays by the chunk's gate totals squared"),
    Mutant("chunked-prefix-skips-first-gate", "variants/cpu/chunked_cpu.cpp",
           "PB[i * mr + l] = i ? PB[(i - 1) * mr + l] * b[i * mr + l] : b[l];",
           "PB[i * mr + l] = i ? PB[(i - 1) * mr + l] * b[i * mr + l] : reg_splat(1.f);",
           r"Chunk|Forms", "the key-side prefix products omit the chunk's first gate"),
    Mutant("gated-chunk-factor-one", "variants/rules/gated.cpp",
           "return 1.f - g.g;", "return 1.f;",
           r"Chunk|Forms", "the chunked factor c_t of the gated rule loses (1 - g)"),
    Mutant("delta-drops-beta", "variants/rules/delta.cpp",
           "const R err = g.beta * (v[r] - s.row(r).dot(k.transpose()));",
           "const R err = (v[r] - s.row(r).dot(k.transpose()));",
           r"numpy_reference", "the delta rule writes with strength 1 instead of beta"),
    Mutant("gated-rule-no-decay", "variants/rules/gated.cpp",
           "    s *= g.g;\n", "",
           r"numpy_reference", "the gated rule's state is not decayed by g"),
    Mutant("decay-rule-drops-value-gate", "variants/rules/decay.cpp",
           "row = row * (g.a[r] * b) + v[r] * k;", "row = row * b + v[r] * k;",
           r"numpy_reference|Forms|Chunk", "the decay rule ignores the value-side gate alpha"),
    Mutant("favor-drops-dk-quarter", "variants/feature_maps/favor.cpp",
           "const R scale = R(1) / std::pow(R(dk), R(0.25));\n    ConstMatMap<R> omega",
           "const R scale = R(1);\n    ConstMatMap<R> omega",
           r"numpy_reference|Feature", "Favor+ without the dk^(1/4) input scaling"),
    Mutant("dpfp-roll-reversed", "variants/feature_maps/dpfp.cpp",
           "o[i] = r[i] * r[(i - j + r_len * nu) % r_len];", "o[i] = r[i] * r[(i + j) % r_len];",
           r"numpy_reference|Feature", "DPFP rolls r the other way"),
    Mutant("elu1-drops-plus-one", "variants/feature_maps/elu1.cpp",
           "out = x.array().max(R(0)) + x.array().min(R(0)).exp();",
           "out = x.array().max(R(0)) + x.array().min(R(0)).exp() - R(1);",
           r"numpy_reference|Feature", "elu1 is elu without the + 1"),
    Mutant("add-rule-half-write", "variants/rules/add.cpp",
           "MatMap<R>(S, rows, m).noalias() += ConstVecMap<R>(v, rows)",
           "MatMap<R>(S, rows, m).noalias() += R(0.5) * ConstVecMap<R>(v, rows)",
           r"numpy_reference", "the add rule writes half of v phi(k)^T"),
    Mutant("relu-proj-drops-bias", "variants/feature_maps/relu_proj.cpp",
           "    out.rowwise() += b.transpose();\n", "",
           r"numpy_reference|Feature", "relu_proj without its bias b"),
    Mutant("decode-step-reads-old-state", "variants/cpu/decode_cpu.cpp",
           "    var_.rule->step(S, c_.rows, m, fk, vt, h.gates_at(t));\n"
           "    read_output(S, dv, m, c_.normalise, fq, c_.y_of(bh) + out_t * dv);\n",
           "    read_output(S, dv, m, c_.normalise, fq, c_.y_of(bh) + out_t * dv);\n"
           "    var_.rule->step(S, c_.rows, m, fk, vt, h.gates_at(t));\n",
           r"Decode|Forms", "the decode step reads y from the state before the token's update"),
    Mutant("kv-cache-misses-last-context-token", "variants/cpu/softmax_decode_cpu.cpp",
           "for (int64_t t = 0; t + 1 < s_.T; ++t) append(bh, t);",
           "for (int64_t t = 0; t + 2 < s_.T; ++t) append(bh, t);",
           r"Decode|Forms", "the KV cache of a decode step lacks the last context token"),
    Mutant("softmax-scale-one-over-dk", "variants/cpu/softmax_blocked_cpu.cpp",
           "const float scale = float(M_LOG2E) / std::sqrt(float(dk));", "const float scale = float(M_LOG2E) / float(dk);",
           r"Softmax|Forms|numpy_reference", "blocked softmax scales scores by 1/dk, not 1/sqrt(dk)"),
    Mutant("npy-float64-stride", "harness/npy.cpp",
           "std::memcpy(&x, d + 8 * i, 8);", "std::memcpy(&x, d + 8 * (i / 2 * 2), 8);",
           r"Npy|numpy_reference", "the .npy reader reads each even float64 element twice"),
    Mutant("metric-drops-sqrt", "harness/accuracy.cpp",
           "e.rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);",
           "e.rel_l2 = ref2 > 0 ? diff2 / ref2 : diff2;",
           r"Accuracy", "relative L2 without the square root (squared errors pass 1e-4 easily)"),
    Mutant("metric-max-abs-unnormalised", "harness/accuracy.cpp",
           "e.max_abs = maxref > 0 ? maxdiff / maxref : maxdiff;", "e.max_abs = maxdiff;",
           r"Accuracy", "max-abs error not divided by max |ref|"),
    Mutant("cpu-targets-always-pass", "harness/bench_targets.cpp",
           "return target.at_most ? value <= target.limit : value >= target.limit;",
           "return true;",
           r"CpuTargets|GpuTargets", "every measured cpu or gpu target reads PASS"),
    Mutant("cpu-targets-modelled-floor", "harness/bench_targets.cpp",
           "double floor_flops(const ResultRow& r) { return 4.0 *",
           "double floor_flops(const ResultRow& r) { return 2.0 *",
           r"CpuTargets", "the chunked floor counts 2 dv m FLOPs per token, not 4"),
    Mutant("cpu-targets-read-resumed-rows", "harness/bench_command.cpp",
           "targets = evaluate_targets(sweep.name, store.rows(order), session_keys);",
           "targets = evaluate_targets(sweep.name, store.rows(order));",
           r"Resume|CpuTargets", "cpu-targets verdicts read rows --resume kept from an earlier run"),
    Mutant("report-claims-always-hold", "scripts/report.py",
           'head = "holds" if all(v == expected for v in verdicts) else "does not hold"',
           'head = "holds"',
           r"report_verdicts", "every measured claim reads 'holds'"),
    Mutant("report-memory-verdict-inverted", "scripts/report.py",
           'return "constant" if trend.mem_ratio <= FLAT_MEMORY_RATIO else "grows"',
           'return "grows" if trend.mem_ratio <= FLAT_MEMORY_RATIO else "constant"',
           r"report_verdicts", "memory growth read as constant and back"),
    Mutant("report-nan-memory-grows", "scripts/report.py",
           "    if not math.isfinite(trend.mem_ratio):\n        return NOT_MEASURED\n"
           '    return "constant"',
           '    return "constant"',
           r"report_verdicts", "a NaN memory ratio reads 'grows' instead of 'not measured'"),
    Mutant("crossover-first-faster-T", "scripts/analysis.py",
           "        start = len(common)\n        while start > 0 and faster[start - 1]:\n            start -= 1\n",
           "        start = faster.index(True) if True in faster else len(common)\n",
           r"report_verdicts", "the crossover is the first faster T, not the one from which every "
           "larger T is faster"),
    Mutant("report-cpu-targets-missing-as-written", "scripts/report.py",
           "not (isinstance(measured, (int, float)) and math.isfinite(measured)):\n        return NOT_MEASURED",
           "not (isinstance(measured, (int, float)) and math.isfinite(measured)):\n        return result",
           r"report_verdicts", "a MISSING or NaN cpu target is reported as the bench wrote it, not 'not measured'"),
]

Result = namedtuple("Result", "mutant outcome killer seconds")


def sh(cmd, cwd, timeout=3600):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def tree_files():
    out = sh(["git", "ls-files", "-co", "--exclude-standard", "-z"], ROOT).stdout
    return [f for f in out.split("\0") if f and os.path.isfile(os.path.join(ROOT, f))]


def sync_scratch(src):
    """Copies the working tree into src, rewriting only files whose contents differ (the
    build stays incremental); removes files of src that the tree no longer has."""
    files = tree_files()
    for rel in files:
        a, b = os.path.join(ROOT, rel), os.path.join(src, rel)
        with open(a, "rb") as f:
            data = f.read()
        if os.path.exists(b):
            with open(b, "rb") as f:
                if f.read() == data:
                    continue
        os.makedirs(os.path.dirname(b), exist_ok=True)
        shutil.copy2(a, b)
    keep = set(files)
    for base, _, names in os.walk(src):
        for name in names:
            rel = os.path.relpath(os.path.join(base, name), src)
            if rel not in keep:
                os.remove(os.path.join(base, rel))


def build(src, build_dir, jobs):
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        done = sh(["cmake", "-S", src, "-B", build_dir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                   "-DDFWBENCH_CUDA=OFF"], src)
        if done.returncode:
            return done.stdout + done.stderr
    done = sh(["cmake", "--build", build_dir, "-j", str(jobs)], src)
    return "" if done.returncode == 0 else done.stdout[-3000:] + done.stderr[-3000:]


def failed_tests(ctest_output):
    """Names ctest lists under 'The following tests FAILED' (or marks Failed/Timeout)."""
    names = re.findall(r"^\s*\d+ - (\S+) \((?:Failed|Timeout|SEGFAULT|Subprocess aborted|Exception|"
                       r"Child aborted|Not Run)[^)]*\)", ctest_output, re.M)
    return names or re.findall(r"Test\s+#\d+: (\S+) \.+\*+(?:Failed|Timeout|Exception)", ctest_output)


def ctest(build_dir, jobs, regex=None):
    cmd = ["ctest", "--test-dir", build_dir, "-j", str(jobs), "--stop-on-failure", "-E", "^hog_test$",
           "--timeout", "600"]
    if regex:
        cmd += ["-R", regex]
    return sh(cmd, build_dir)


def run_mutant(m, src, build_dir, jobs):
    start = time.time()
    path = os.path.join(src, m.file)
    with open(path) as f:
        original = f.read()
    if original.count(m.original) != 1:
        return Result(m, "error", f"snippet found {original.count(m.original)} times in {m.file}", 0)
    try:
        with open(path, "w") as f:
            f.write(original.replace(m.original, m.replacement))
        broken = build(src, build_dir, jobs)
        if broken:
            return Result(m, "error", "does not build: " + broken.strip().splitlines()[-1], time.time() - start)
        for regex in (m.tests, None):
            done = ctest(build_dir, jobs, regex)
            if done.returncode != 0:
                killers = failed_tests(done.stdout + done.stderr) or ["(ctest failed: " + (done.stdout + done.stderr)
                                                                     .strip().splitlines()[-1] + ")"]
                return Result(m, "killed", killers[0], time.time() - start)
        return Result(m, "SURVIVED", "-", time.time() - start)
    finally:
        with open(path, "w") as f:
            f.write(original)


def table(results, commit, total_s):
    lines = [f"Mutation suite (`scripts/mutants.py`), commit {commit}: {len(results)} mutants, "
             f"{sum(r.outcome == 'killed' for r in results)} killed, {total_s / 60:.0f} minutes on this machine.", "",
             "| mutant | file | what it breaks | outcome | killed by | s |", "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        why = r.mutant.why.replace("|", "\\|")
        lines.append(f"| {r.mutant.name} | `{r.mutant.file}` | {why} | {r.outcome} | `{r.killer}` | "
                     f"{r.seconds:.0f} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated mutant names")
    ap.add_argument("--rotate", type=int, help="run this many mutants, chosen by the commit hash")
    ap.add_argument("--work", default="/tmp/dfw_mutants", help="scratch directory (src/ and build/)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--table", help="write the Markdown table here")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--check-snippets", action="store_true",
                    help="exit 1 unless every mutant's text stands exactly once in its file (ctest mutant_snippets)")
    ap.add_argument("--in-place", metavar="BUILD_DIR",
                    help="mutate the working tree itself and rebuild this existing build of it")
    ap.add_argument("--baseline-passed", action="store_true",
                    help="the unmutated tree's tests have just passed in this build (CI: test.sh's ctest): "
                         "do not run the chosen mutants' tests on it first")
    args = ap.parse_args()
    names = [m.name for m in MUTANTS]
    assert len(set(names)) == len(names), "mutant names repeat"
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:38} {m.file:38} {m.why}")
        return 0
    if args.check_snippets:  # a mutant whose text the code lost would never run again
        stale = [f"{m.name}: found {n} times in {m.file}" for m in MUTANTS
                 if (n := open(os.path.join(ROOT, m.file)).read().count(m.original)) != 1]
        print("\n".join(stale) or f"mutants: every one of the {len(MUTANTS)} snippets stands once in its file")
        return 1 if stale else 0
    chosen = MUTANTS
    commit = sh(["git", "rev-parse", "--short=12", "HEAD"], ROOT).stdout.strip() or "unknown"
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            print(f"mutants: unknown mutant(s) {', '.join(unknown)}", file=sys.stderr)
            return 2
        chosen = [m for m in MUTANTS if m.name in wanted]
    elif args.rotate:
        first = int(commit, 16) % len(MUTANTS) if commit != "unknown" else 0
        chosen = [MUTANTS[(first + i) % len(MUTANTS)] for i in range(min(args.rotate, len(MUTANTS)))]
    if args.in_place:
        src, build_dir = ROOT, os.path.abspath(args.in_place)
        if not os.path.exists(os.path.join(build_dir, "build.ninja")):
            print(f"mutants: --in-place {args.in_place} is not a configured build", file=sys.stderr)
            return 2
        # A signal unwinds through run_mutant's finally, which restores the mutated file.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda n, _: sys.exit(128 + n))
    else:
        src, build_dir = os.path.join(args.work, "src"), os.path.join(args.work, "build")
        os.makedirs(src, exist_ok=True)
        sync_scratch(src)
    start = time.time()
    broken = build(src, build_dir, args.jobs)
    if broken:
        print(f"mutants: the unmutated tree does not build:\n{broken}", file=sys.stderr)
        return 2
    baseline = None if args.baseline_passed else ctest(build_dir, args.jobs, "|".join(sorted({m.tests for m in chosen})))
    if baseline and baseline.returncode != 0:
        print(f"mutants: the unmutated tree fails its tests:\n{baseline.stdout[-3000:]}", file=sys.stderr)
        return 2
    results = []
    for m in chosen:
        r = run_mutant(m, src, build_dir, args.jobs)
        print(f"  {m.name:38} {r.outcome:9} {r.killer}  ({r.seconds:.0f} s)", flush=True)
        results.append(r)
    build(src, build_dir, args.jobs)  # leave the scratch build unmutated
    text = table(results, commit, time.time() - start)
    print("\n" + text)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text)
    bad = [r for r in results if r.outcome != "killed"]
    if bad:
        print(f"mutants: {len(bad)} not killed: {', '.join(r.mutant.name for r in bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
