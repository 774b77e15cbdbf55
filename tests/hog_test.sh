#!/bin/bash
# The hog test (issue 11, item 2): a disturbed run never yields the opposite
# verdict. Runs the dfw rows of the cpu-targets preset (decode flatness, the
# bandwidth fraction, the chunked SGEMM fraction, chunked vs recurrent with uniform
# and tiny gates, the gate-set spread: 9 cases; the d = m = 128 prefill cases, the
# same verdicts as d = 64's at four times the time, are left out) twice on
# the same two cores: once quiet, once beside a CPU hog (a busy loop bounded by
# `timeout`) pinned to one of those cores. Asserts:
#   - both runs finish (exit 0);
#   - no target reads PASS in one run and MISS in the other: a verdict of the
#     hog run is the quiet run's, or "inconclusive (disturbed run)", or MISSING
#     exactly where the quiet run has MISSING (targets this subset does not time);
#   - the hog run marks rows disturbed (the detector fired), and every verdict it
#     draws from a disturbed row is inconclusive.
# Usage: hog_test.sh DFWBENCH. Exit 77 (skipped) on a machine with one core.
# Bounded: each run is cut off by `timeout` (quiet 50 s, hog 70 s: 2 minutes at most;
# 16 s and 19 s here, 2026-12-07).
set -euo pipefail

dfwbench=${1:?usage: hog_test.sh DFWBENCH}
cores=$(python3 -c 'import os; print(",".join(map(str, sorted(os.sched_getaffinity(0))[:2])))')
if [[ $cores != *,* ]]; then
  echo "hog_test: SKIPPED: needs two cores, this process may use only $cores"
  exit 77
fi
hog_core=${cores%%,*}

dir=$(mktemp -d /tmp/dfw_hog_XXXXXX)
hog_pid=
cleanup() {
  if [[ -n $hog_pid ]]; then kill "$hog_pid" 2>/dev/null || true; wait "$hog_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

run_sweep() {  # NAME SECONDS: the sweep on the two cores, results in $dir/NAME.*
  local start=$SECONDS
  timeout "$2" taskset -c "$cores" "$dfwbench" bench --preset cpu-targets --backend cpu --variants dfw \
    --filter '^(?!.*prefill B=1 H=16 )' --repetitions 3 --min-time 0.02 --attempts 2 --results-dir "$dir" --out "$1" > "$dir/$1.log" 2>&1 || {
    echo "hog_test: FAIL: the $1 run exited with $? (log below)"; cat "$dir/$1.log"; exit 1; }
  echo "hog_test: $1 run: $((SECONDS - start)) s on cores $cores"
}

run_sweep quiet 50
timeout 80 taskset -c "$hog_core" sh -c 'while :; do :; done' &
hog_pid=$!
run_sweep hog 70
kill "$hog_pid" 2>/dev/null || true
wait "$hog_pid" 2>/dev/null || true
hog_pid=

python3 - "$dir" <<'PY'
import csv, json, sys
d = sys.argv[1]
def load(name):
    with open(f"{d}/{name}.json") as f:
        context = json.load(f)["context"]
    with open(f"{d}/{name}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {t["name"]: t for t in context["cpu_targets"]}, rows
quiet, quiet_rows = load("quiet")
hog, hog_rows = load("hog")
INCONCLUSIVE = "inconclusive (disturbed run)"
failures = []
print(f"{'target':<104} {'quiet':<30} hog")
for name, q in quiet.items():
    h = hog[name]
    print(f"{name:<104} {q['result']:<30} {h['result']}")
    if {q["result"], h["result"]} == {"PASS", "MISS"}:
        failures.append(f"opposite verdicts: {name}: quiet {q['result']}, hog {h['result']}")
    if (q["result"] == "MISSING") != (h["result"] == "MISSING"):
        failures.append(f"measured in one run only: {name}: quiet {q['result']}, hog {h['result']}")
    if h["result"] in ("PASS", "MISS") and "disturbed row" in h.get("why", ""):
        failures.append(f"a verdict from a disturbed row: {name}")
disturbed = [r for r in hog_rows if r["disturbed"] == "1"]
print(f"rows disturbed: quiet run {sum(r['disturbed'] == '1' for r in quiet_rows)} of {len(quiet_rows)}, "
      f"hog run {len(disturbed)} of {len(hog_rows)}")
if disturbed:
    print(f"  e.g. {disturbed[0]['variant']} {disturbed[0]['form']} T={disturbed[0]['T']}: {disturbed[0]['note']}")
else:
    failures.append("the hog run marked no row disturbed: a CPU hog on one of the two cores went undetected")
for row in hog_rows:
    if row["status"] != "ok":
        failures.append(f"hog run row {row['variant']} {row['form']} T={row['T']} is {row['status']}")
if failures:
    print("hog_test: FAIL\n  " + "\n  ".join(failures))
    sys.exit(1)
print("hog_test: PASS: no verdict of the disturbed run contradicts the quiet run")
PY
