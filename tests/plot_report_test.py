#!/usr/bin/python3
"""ctest `plot_report`: scripts/plot.py and scripts/report.py on the committed fixture
(tests/fixtures/results, hand-made data in the bench and check formats).

Asserts: every expected PNG and SVG is written and non-empty; REPORT.md's tables,
regenerated from the fixture into a temp copy, pass `report.py --check` and carry the
fixture's numbers; changing one fixture number makes --check fail; a malformed CSV makes
both scripts exit non-zero naming the file; an empty results directory is skipped cleanly.
Run: /usr/bin/python3 tests/plot_report_test.py
"""
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "results")
PLOT = os.path.join(ROOT, "scripts", "plot.py")
REPORT = os.path.join(ROOT, "scripts", "report.py")
PYTHON = "/usr/bin/python3"
EXPECTED_FIGURES = ("paper_decode_cpu", "sequence_time_paper-prefill_cpu_fp32", "sequence_time_scaling_cpu_fp32",
                    "ceiling_fraction_cpu", "accuracy_heatmap", "grid_cpu_fp32")


def run(*args):
    return subprocess.run([PYTHON, *args], capture_output=True, text=True, timeout=300)


def replace_in(path, old, new):
    with open(path) as f:
        text = f.read()
    assert text.count(old) == 1, f"{old!r} must occur once in {path}"
    with open(path, "w") as f:
        f.write(text.replace(old, new))


class PlotReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dfw_plot_report_")
        self.results = os.path.join(self.tmp, "results")
        shutil.copytree(FIXTURE, self.results)
        self.report = os.path.join(self.tmp, "REPORT.md")
        shutil.copy(os.path.join(ROOT, "REPORT.md"), self.report)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_plots_written_for_every_input(self):
        out = os.path.join(self.tmp, "plots")
        done = run(PLOT, "--results", self.results, "--out", out)
        self.assertEqual(done.returncode, 0, done.stderr)
        for name in EXPECTED_FIGURES:
            for ext in ("png", "svg"):
                path = os.path.join(out, f"{name}.{ext}")
                self.assertTrue(os.path.isfile(path), f"{path} missing")
                self.assertGreater(os.path.getsize(path), 10_000, f"{path} is (nearly) empty")
            with open(os.path.join(out, f"{name}.png"), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            with open(os.path.join(out, f"{name}.svg")) as f:
                svg = f.read()
            self.assertIn("commit: fixture", svg, f"{name} does not name its commit")

    def test_report_tables_match_fixture_and_detect_a_change(self):
        written = run(REPORT, "--results", self.results, "--report", self.report)
        self.assertEqual(written.returncode, 0, written.stderr)
        checked = run(REPORT, "--results", self.results, "--report", self.report, "--check")
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        with open(self.report) as f:
            text = f.read()
        # dfw at T=1920 in fixture paper-cpu.csv: 0.08513 ms, 4 significant digits -> 3.
        self.assertIn("| 1920 | 2.65 | 0.0851 | 0.107 |", text)
        # the crossover of dfw in paper-prefill-cpu.csv (chunked 20.17 ms < blocked 27.24 ms at T=640)
        self.assertIn("| paper-prefill | cpu | fp32 | dfw | 640 | chunked | 27.2 | 20.2 |", text)
        self.assertIn("No GPU results yet", text)
        self.assertIn("fixture: made-up failure", text)

        replace_in(os.path.join(self.results, "paper-cpu.csv"), ",ok,0.08513,", ",ok,0.09513,")
        stale = run(REPORT, "--results", self.results, "--report", self.report, "--check")
        self.assertEqual(stale.returncode, 1, stale.stdout + stale.stderr)
        self.assertIn("-| 1920 | 2.65 | 0.0851 | 0.107 |", stale.stdout)
        self.assertIn("+| 1920 | 2.65 | 0.0951 | 0.107 |", stale.stdout)

    def test_malformed_csv_is_an_error_naming_the_file(self):
        replace_in(os.path.join(self.results, "scaling-cpu.csv"), ",407.4,399.2,", ",zero,399.2,")
        for script, extra in ((PLOT, ["--out", os.path.join(self.tmp, "plots")]), (REPORT, ["--report", self.report])):
            done = run(script, "--results", self.results, *extra)
            self.assertEqual(done.returncode, 2, done.stdout + done.stderr)
            self.assertIn("scaling-cpu.csv:", done.stderr)
            self.assertIn("must be a number", done.stderr)

    def test_missing_column_is_an_error(self):
        path = os.path.join(self.results, "check-cpu.csv")
        replace_in(path, "variant,impl,", "variant,implementation,")
        done = run(PLOT, "--results", self.results, "--out", os.path.join(self.tmp, "plots"))
        self.assertEqual(done.returncode, 2)
        self.assertIn("check-cpu.csv:1: missing column(s) impl", done.stderr)

    def test_absent_inputs_are_skipped(self):
        empty = os.path.join(self.tmp, "empty")
        os.mkdir(empty)
        out = os.path.join(self.tmp, "plots")
        done = run(PLOT, "--results", empty, "--out", out)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("skipping paper plot", done.stderr)
        self.assertIn("skipping accuracy plot", done.stderr)
        self.assertEqual(os.listdir(out), [])
        written = run(REPORT, "--results", empty, "--report", self.report)
        self.assertEqual(written.returncode, 0, written.stderr)
        with open(self.report) as f:
            self.assertIn("No results files yet", f.read())

    def test_machine_and_commit_from_json_context(self):
        path = os.path.join(self.results, "grid-cpu.csv")
        with open(path) as f:
            text = f.read()
        machine = "FIXTURE: hand-made test data, not a measurement (2-core x86-64 CPU)"
        with open(path, "w") as f:
            f.write(text.replace(f'"{machine}",fixture', ","))
        with open(os.path.join(self.results, "grid-cpu.json"), "w") as f:
            f.write('{"context": {"machine": "json machine", "commit": "abc1234"}, "benchmarks": []}')
        written = run(REPORT, "--results", self.results, "--report", self.report)
        self.assertEqual(written.returncode, 0, written.stderr)
        with open(self.report) as f:
            self.assertIn("| `grid-cpu.csv` | grid | cpu | 21 | 20 | 0 | 0 | 1 | json machine | abc1234 |", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
