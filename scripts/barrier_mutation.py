#!/usr/bin/env python3
"""barrier_mutation: the mutation proof of the kernels' barriers.

Removes each __syncthreads() / __syncwarp() of kernels/*.cu in turn and reports
which removals the GPU suites catch. On the emulated device a removal needs no
rebuild: DFWBENCH_EMU_DROP_BARRIER=FILE:LINE makes that one call a no-op.

For each barrier the GPU tests (dfw_cuda_tests, cheapest first) run under the
schedules greedy, reverse and random:1 until one fails; a removal no schedule
catches is then run under the ThreadSanitizer build (--tsan-build), where a data
race between the emulated threads is a failure. Prints a markdown table
(barrier -> caught by) and exits 1 if any removal went uncaught.

Usage: scripts/barrier_mutation.py [--build build-emu] [--tsan-build build-emu-tsan]
                                   [--only FILE.cu[:LINE]] [--out table.md]
       scripts/barrier_mutation.py --check-readme
--check-readme runs nothing: it checks that README.md's barrier tables list every
barrier of kernels/*.cu at its current line, in order (exit 1 with the lines that moved),
so that an edit that moves a barrier updates its row (ctest barrier_table_current).
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BARRIER = re.compile(r"\b(__syncthreads|__syncwarp)\s*\(")
# Cheapest first: the first failing test names the catch.
TESTS = [
    "CudaSuite.InitialStateAndDecodeStep",
    "CudaSuite.EveryPresetOnOddShapes",
    "CudaSuite.FlashDecodeOverEveryLaneGroupSplitCountAndLoadPath",
    "CudaChunked.PrefillThenDecodeStepContinues",
    "CudaChunked.BlocksTakeSeveralChunksEach",
    "CudaSuite.EveryFeatureMapAndTheWideRegisterPath",
    "CudaChunked.LongChunksAndWideHeadsSpillToTheWorkspace",
    "CudaSuite.GateEdgeSets",
    "CudaSuite.LongSequenceAndLongCache",
    "CudaChunked.EveryChunkLength",
    "CudaChunked.EveryChunkLengthWithEdgeGateSets",
    "CudaBackward.SoftmaxOnOddShapesRaggedTilesAndTheWidestHead",
    "CudaBackward.EveryStatefulPresetGateSetAndInitialState",
    "CudaBackward.EveryFeatureMapOnTheFactorRules",
    "CudaBackward.WideFeaturesAndManyRowBlocks",
    "CudaBackward.BlocksTakeSeveralChunksEach",
]
SCHEDULES = ["greedy", "reverse", "random:1"]

# Barriers whose removal no test can catch because they are redundant, keyed by
# (file, the statement just before the barrier, as written), with the reason. Only
# __syncthreads and __syncwarp order memory (the PTX memory model; the TSan build follows
# it): a shuffle or an mma_sync makes lanes wait for one another but orders no load or
# store, so no reason below leans on one. (Three barriers once listed here on such a
# reason are removals TSan now reports as data races.)
REDUNDANT = {
    ("fast_weight_kernel.cu", "a.y[(bh * a.y_tokens + a.y_first + c0 + tt) * dv + row] = from_float<T>(out);"):
        "redundant: step 4 reads only sy and sden, which the next chunk writes only in its step 3, "
        "after the __syncthreads that ends its step 1 and that every thread reaches only after its "
        "step 4; steps 1-2 write sx, snorm and sf, which step 4 does not read",
}


def barriers():
    """(file name, line, call, the statement before it) of every barrier call outside
    comments in kernels/*.cu."""
    found = []
    for cu in sorted((ROOT / "kernels").glob("*.cu")):
        lines = cu.read_text().splitlines()
        for no, line in enumerate(lines, 1):
            m = BARRIER.search(line.split("//")[0])
            if m:
                before = next((p.strip() for p in reversed(lines[:no - 1]) if p.strip() not in ("", "}", "{")), "")
                found.append((cu.name, no, m.group(1), before))
    return found


README_ROW = re.compile(r"^\| `(\w+\.cu):(\d+)` `(__syncthreads|__syncwarp)`", re.M)


def check_readme():
    """0 if README.md's barrier rows are exactly barriers() (file, line, call), in order."""
    listed = [(f, int(line), call) for f, line, call in README_ROW.findall((ROOT / "README.md").read_text())]
    present = [(f, line, call) for f, line, call, _ in barriers()]
    key = lambda b: (b[0], b[1])  # noqa: E731
    if sorted(listed, key=key) == present:
        print(f"barrier_mutation: README.md lists all {len(present)} barriers of kernels/*.cu at their lines")
        return 0
    print("barrier_mutation: README.md's barrier tables and kernels/*.cu differ:", file=sys.stderr)
    for b in sorted(set(listed) - set(present), key=key):
        print(f"  listed, not in the sources: {b[0]}:{b[1]} {b[2]}", file=sys.stderr)
    for b in sorted(set(present) - set(listed), key=key):
        print(f"  in the sources, not listed: {b[0]}:{b[1]} {b[2]}", file=sys.stderr)
    return 1


def fails(exe, test, env_extra, timeout):
    env = dict(os.environ, **env_extra)
    try:
        r = subprocess.run([str(exe), f"--gtest_filter={test}", "--gtest_brief=1"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return True, "timeout"
    if r.returncode == 0:
        return False, ""
    text = r.stdout
    why = "wrong results"
    if "ThreadSanitizer: data race" in text:
        why = "data race"
    elif "emulated CUDA device:" in text:
        why = "kernel fault"
    return True, why


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-emu")
    ap.add_argument("--tsan-build", default="")
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--check-readme", action="store_true")
    args = ap.parse_args()
    if args.check_readme:
        return check_readme()
    exe = ROOT / args.build / "tests" / "dfw_cuda_tests"
    tsan_exe = ROOT / args.tsan_build / "tests" / "dfw_cuda_tests" if args.tsan_build else None
    rows, missed = [], 0
    for name, line, call, before in barriers():
        where = f"{name}:{line}"
        if args.only and not (where == args.only or name == args.only):
            continue
        drop = {"DFWBENCH_EMU_DROP_BARRIER": where}
        caught = ""
        for sched in SCHEDULES:
            for test in TESTS:
                hit, why = fails(exe, test, dict(drop, DFWBENCH_EMU_SCHEDULE=sched), 600)
                if hit:
                    caught = f"{test} ({sched}: {why})"
                    break
            if caught:
                break
        if not caught and tsan_exe:
            env = dict(drop, DFWBENCH_EMU_SCHEDULE="random:3", OMP_NUM_THREADS="1",
                       TSAN_OPTIONS="halt_on_error=1:abort_on_error=1")
            for test in TESTS:
                hit, why = fails(tsan_exe, test, env, 1200)
                if hit:
                    caught = f"{test} (TSan: {why})"
                    break
        if not caught and (name, before) in REDUNDANT:
            caught = REDUNDANT[(name, before)]
        missed += not caught
        rows.append(f"| `{where}` `{call}` | {caught or 'NOT CAUGHT'} |")
        print(rows[-1], flush=True)
    table = "| barrier removed | caught by (first failing test, schedule: how) |\n| --- | --- |\n" + "\n".join(rows)
    if args.out:
        pathlib.Path(args.out).write_text(table + "\n")
    print(f"\n{len(rows) - missed} of {len(rows)} removals caught or redundant")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
