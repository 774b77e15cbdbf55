#!/usr/bin/python3
"""Audits a ctest run from its JUnit file (ctest --output-junit): a test may skip only
when its precondition is absent from the machine, and at least a committed number of
tests must have run, so a skip guard or a lost test cannot hide a regression.

  /usr/bin/python3 scripts/ctest_audit.py BUILD_DIR [--junit FILE] [--min-file FILE]

Allowed skips, by the build's kind (read from BUILD_DIR/CMakeCache.txt):
  - a CUDA device absent or present (the GPU suites, the no-device suite): in a build
    with nvcc or without CUDA; never in the emulated build (-DDFWBENCH_CUDA_EMU=ON),
    which runs the GPU suites on its emulated device;
  - the static kernel check without cuobjdump (an optional tool): in the nvcc build;
  - the AddressSanitizer build's own two (mallinfo2 and the reader's speed are
    measured without it): in that build only.
Any other skip fails, naming the test and its message. The floor: the number of
tests that ran must be at least the one in --min-file (default .ci/min_tests: the
count of the test command's build on a machine without a GPU, which runs the fewest;
raise it when tests are added). Exit 0 when the run passes the audit, 1 otherwise, 2 when
the JUnit file or the floor cannot be read.
"""
import argparse
import os
import re
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICE_SKIPS = (
    r"no usable CUDA device: ",
    r"a CUDA device is (present|usable here)",
    r"an NVIDIA driver is installed here",
    r"built without CUDA: the reason is that, not the driver's",
)
# An optional tool absent (cuobjdump, installed from PyPI where it can be): the static
# kernel check of the nvcc build reports skipped.
TOOL_SKIPS = (r"skipped: cuobjdump not installed",)
ASAN_SKIPS = (
    r"built with AddressSanitizer: mallinfo2 does not see its allocations",
    r"measured in the build without AddressSanitizer",
)


def build_kind(build_dir):
    """'emu', 'asan', 'nvcc' or 'cpu' from the build's CMake cache."""
    cache = {}
    with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
        for line in f:
            m = re.match(r"([A-Za-z_0-9]+):[A-Z]+=(.*)", line.strip())
            if m:
                cache[m.group(1)] = m.group(2)
    on = lambda name: cache.get(name, "").upper() in ("ON", "1", "TRUE", "YES")  # noqa: E731
    if on("DFWBENCH_CUDA_EMU"):
        return "emu"
    if on("DFWBENCH_SANITIZE"):
        return "asan"
    return "nvcc" if cache.get("CMAKE_CUDA_COMPILER", "").endswith("nvcc") else "cpu"


def allowed_skips(kind):
    return {"emu": (), "asan": DEVICE_SKIPS + ASAN_SKIPS, "nvcc": DEVICE_SKIPS + TOOL_SKIPS, "cpu": DEVICE_SKIPS}[kind]


def outcomes(junit_path):
    """[(test name, 'run' | 'skipped' | 'failed', output)] of a ctest JUnit file."""
    out = []
    for case in ET.parse(junit_path).getroot().iter("testcase"):
        status = case.get("status", "run")
        text = "".join(e.text or "" for e in case if e.tag in ("system-out", "skipped", "failure"))
        text += " ".join(e.get("message", "") for e in case if e.tag in ("skipped", "failure"))
        if status in ("skipped", "disabled", "notrun") or case.find("skipped") is not None:
            out.append((case.get("name"), "skipped", text))
        elif status == "fail" or case.find("failure") is not None:
            out.append((case.get("name"), "failed", text))
        else:
            out.append((case.get("name"), "run", text))
    return out


def audit(results, kind, floor):
    """Problems (strings) of one run: skips without an allowed reason, too few tests run."""
    allowed = [re.compile(p) for p in allowed_skips(kind)]
    problems = []
    for name, status, text in results:
        if status == "skipped" and not any(p.search(text) for p in allowed):
            said = re.search(r": Skipped\n(.*)", text)  # GTEST_SKIP's message follows this line
            reason = said.group(1).strip() if said else "(no message)"
            problems.append(f"{name} skipped, not for an absent device in a {kind} build: {reason}")
    ran = sum(1 for _, status, _ in results if status != "skipped")
    if ran < floor:
        problems.append(f"only {ran} tests ran, fewer than the committed floor {floor}")
    return problems, ran


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build_dir")
    ap.add_argument("--junit", help="ctest's JUnit file (default BUILD_DIR/ctest-junit.xml)")
    ap.add_argument("--min-file", help="file holding the least number of tests that must run")
    args = ap.parse_args()
    try:
        kind = build_kind(args.build_dir)
        results = outcomes(args.junit or os.path.join(args.build_dir, "ctest-junit.xml"))
        with open(args.min_file or os.path.join(ROOT, ".ci", "min_tests")) as f:
            floor = int(f.read().split()[0])
    except (OSError, ET.ParseError, ValueError, IndexError) as e:
        print(f"ctest_audit: {e}", file=sys.stderr)
        return 2
    problems, ran = audit(results, kind, floor)
    skipped = sum(1 for _, status, _ in results if status == "skipped")
    print(f"ctest_audit: {kind} build, {ran} tests ran (floor {floor}), {skipped} skipped")
    for p in problems:
        print(f"ctest_audit: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
