#!/usr/bin/python3
"""ctest `plot_report`: scripts/plot.py and scripts/report.py on the committed fixture
(tests/fixtures/results, hand-made data in the bench and check formats): two machines'
sets side by side, cpu-fixture-2c (every file; bench files with the later columns
threads, disturbed, planned_bytes, note) and gpu-fixture (one paper file in the older
format, without them).

Asserts: every expected PNG and SVG is written per machine and non-empty; REPORT.md's
tables, regenerated from the fixture into a temp copy, pass `report.py --check`, show
each machine under its own heading and carry the fixture's numbers and the quiet
verdicts; drawing one machine's plots leaves the other's plots and both result sets as
they were; a disturbed row turns the verdicts drawn from it into "inconclusive (disturbed
run)" and marks the plot; missing data reads "not measured"; an oom row shows on the
memory plot; every variant present gets its series, whatever its name, and any bench file
(CSV anywhere, or a JSON alone) is plotted with every variant in it; changing one fixture
number makes --check fail; a malformed CSV, a file
outside a machine directory or a JSON of another machine makes both scripts exit 2
naming the file; an empty results root is skipped cleanly; results/static/sass-cuda.csv
(scripts/sass_check.py) gives one kernel table for the whole report, and no machine set;
a cuda row's roofline_ms shows as a "bound (ms)" column beside its time.
Run: /usr/bin/python3 tests/plot_report_test.py
"""
import csv
import hashlib
import json
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
CPU, GPU = "cpu-fixture-2c", "gpu-fixture"
EXPECTED_FIGURES = {CPU: ("paper_decode_cpu", "sequence_time_paper-prefill_cpu_fp32", "sequence_time_scaling_cpu_fp32",
                          "ceiling_fraction_cpu", "accuracy_heatmap", "grid_cpu_fp32"),
                    GPU: ("paper_decode_cuda",)}
INCONCLUSIVE = "inconclusive (disturbed run)"
QUIET_CLAIMS = ("| softmax attention costs O(T) time per generated token | 4 | holds: softmax grows",
                "| the recurrent rules need O(1) memory in T | 4 | holds: dfw constant")


def run(*args):
    return subprocess.run([PYTHON, *args], capture_output=True, text=True, timeout=300)


def snapshot(directory):
    """{relative path: (sha256, mtime_ns)} of every file under directory."""
    out = {}
    for base, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = (hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mtime_ns)
    return out


def section(report_text, machine, table_name):
    """The part of a generated block that belongs to one machine's heading."""
    block = report_text.split(f"<!-- table:{table_name}:begin -->")[1].split(f"<!-- table:{table_name}:end -->")[0]
    parts = block.split("#### `")
    mine = [p for p in parts if p.startswith(f"{machine}`")]
    assert len(mine) == 1, f"{machine} has {len(mine)} headings in {table_name}"
    return mine[0]


def edit_rows(path, where, **changes):
    """Sets columns of the rows of a results CSV for which where(row) holds; returns how many."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    matched = [r for r in rows if where(r)]
    for r in matched:
        r.update(changes)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(matched)


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
        self.plots = os.path.join(self.tmp, "plots")
        shutil.copytree(FIXTURE, self.results)
        self.report = os.path.join(self.tmp, "REPORT.md")
        shutil.copy(os.path.join(ROOT, "REPORT.md"), self.report)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def plot(self, *extra):
        return run(PLOT, "--results", self.results, "--out", self.plots, *extra)

    def report_text(self):
        written = run(REPORT, "--results", self.results, "--report", self.report)
        self.assertEqual(written.returncode, 0, written.stderr)
        with open(self.report) as f:
            return f.read()

    def test_plots_written_per_machine(self):
        done = self.plot()
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(sorted(os.listdir(self.plots)), [CPU, GPU])
        for machine, names in EXPECTED_FIGURES.items():
            written = sorted(os.listdir(os.path.join(self.plots, machine)))
            self.assertEqual(written, sorted(f"{n}.{ext}" for n in names for ext in ("png", "svg")))
            for name in names:
                path = os.path.join(self.plots, machine, name)
                self.assertGreater(os.path.getsize(path + ".png"), 10_000, f"{path}.png is (nearly) empty")
                with open(path + ".png", "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
                with open(path + ".svg") as f:
                    svg = f.read()
                self.assertIn("commit: fixture", svg, f"{name} does not name its commit")
                self.assertIn(f"results/{machine}/", svg, f"{name} does not name its machine's files")
                self.assertNotIn(f"results/{GPU if machine == CPU else CPU}/", svg, f"{name} mixes machines")

    def test_report_has_each_machine_under_its_heading_with_quiet_verdicts(self):
        text = self.report_text()
        checked = run(REPORT, "--results", self.results, "--report", self.report, "--check")
        self.assertEqual(checked.returncode, 0, checked.stdout + checked.stderr)
        for name in ("sources", "claims", "decode-time", "decode-trend", "fig-paper"):
            cpu, gpu = section(text, CPU, name), section(text, GPU, name)
            self.assertNotIn("FIXTURE GPU", cpu)
            self.assertNotIn("x86-64 CPU", gpu)
        self.assertIn("![paper_decode_cuda](plots/gpu-fixture/paper_decode_cuda.png)", section(text, GPU, "fig-paper"))
        self.assertIn("![paper_decode_cpu](plots/cpu-fixture-2c/paper_decode_cpu.png)", section(text, CPU, "fig-paper"))
        for machine in (CPU, GPU):
            claims = section(text, machine, "claims")
            for claim in QUIET_CLAIMS:
                self.assertIn(claim, claims)
            self.assertNotIn("inconclusive", claims)
            self.assertNotIn("| not measured:", claims)
        # dfw at T=1920 in the CPU set's paper-cpu.csv: 0.08513 ms, 4 significant digits -> 3.
        self.assertIn("| 1920 | 2.65 | 0.0851 | 0.107 |", section(text, CPU, "decode-time"))
        self.assertIn("| 1920 | 0.0424 | 0.0110 | 0.0130 |", section(text, GPU, "decode-time"))
        # the crossover of dfw in paper-prefill-cpu.csv (chunked 20.17 ms < blocked 27.24 ms at T=640)
        self.assertIn("| paper-prefill | cpu | fp32 | fixture | dfw | 640 | chunked | 27.2 | 20.2 |",
                      section(text, CPU, "crossover"))
        self.assertIn("fixture: made-up failure", text)
        self.assertNotIn("No GPU results yet", text)

    def test_change_in_one_number_makes_check_fail(self):
        self.report_text()
        replace_in(os.path.join(self.results, CPU, "paper-cpu.csv"), ",ok,0.08513,", ",ok,0.09513,")
        stale = run(REPORT, "--results", self.results, "--report", self.report, "--check")
        self.assertEqual(stale.returncode, 1, stale.stdout + stale.stderr)
        self.assertIn("-| 1920 | 2.65 | 0.0851 | 0.107 |", stale.stdout)
        self.assertIn("+| 1920 | 2.65 | 0.0951 | 0.107 |", stale.stdout)

    def test_one_machines_run_leaves_the_other_set_untouched(self):
        self.assertEqual(self.plot().returncode, 0)
        self.report_text()
        old = 1_000_000_000 * 10**9  # 2001: any rewrite moves a file's mtime past it
        for base in (self.results, self.plots):
            for path in snapshot(base):
                os.utime(os.path.join(base, path), ns=(old, old))
        before = {base: snapshot(base) for base in (self.results, os.path.join(self.plots, CPU))}
        gpu_plots = snapshot(os.path.join(self.plots, GPU))
        done = self.plot("--machine", GPU)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.report_text()
        for base, files in before.items():
            self.assertEqual(snapshot(base), files, f"{base} changed by a run for {GPU}")
        redrawn = snapshot(os.path.join(self.plots, GPU))
        self.assertEqual(sorted(redrawn), sorted(gpu_plots))
        self.assertTrue(all(redrawn[p][1] != old for p in redrawn), "the GPU set's own plots were not redrawn")
        unknown = self.plot("--machine", "cpu-nowhere-1c")
        self.assertEqual(unknown.returncode, 2)
        self.assertIn("no results for machine 'cpu-nowhere-1c'", unknown.stderr)

    def test_disturbed_rows_give_inconclusive_verdicts_and_marked_points(self):
        # softmax decode at T=1024 and dfw prefill at T=640 marked disturbed by the bench
        self.assertEqual(edit_rows(os.path.join(self.results, CPU, "paper-cpu.csv"),
                                   lambda r: r["variant"] == "softmax" and r["T"] == "1024", disturbed="1"), 1)
        self.assertEqual(edit_rows(os.path.join(self.results, CPU, "paper-prefill-cpu.csv"),
                                   lambda r: r["variant"] == "dfw" and r["T"] == "640" and r["form"] == "chunked",
                                   disturbed="1"), 1)
        text = self.report_text()
        claims = section(text, CPU, "claims")
        self.assertIn(f"| softmax attention costs O(T) time per generated token | 4 | {INCONCLUSIVE}: softmax "
                      f"{INCONCLUSIVE}", claims)
        self.assertIn(f"| softmax attention needs O(T) memory per sequence during generation | 4 | {INCONCLUSIVE}",
                      claims)
        self.assertIn(f"dfw fp32: {INCONCLUSIVE}", claims)
        self.assertNotIn("holds: softmax", claims)
        self.assertIn("holds: dfw flat", claims)  # the quiet series keep their verdicts
        self.assertIn(f"| fixture | dfw | {INCONCLUSIVE} |", section(text, CPU, "crossover"))
        self.assertIn("(disturbed)", section(text, CPU, "decode-time"))
        for claim in QUIET_CLAIMS:
            self.assertIn(claim, section(text, GPU, "claims"))
        self.assertEqual(self.plot().returncode, 0)
        for name in ("paper_decode_cpu", "sequence_time_paper-prefill_cpu_fp32"):
            with open(os.path.join(self.plots, CPU, f"{name}.svg")) as f:
                self.assertIn(f"{INCONCLUSIVE}: timing not trusted", f.read(), f"{name} does not mark the point")
        with open(os.path.join(self.plots, GPU, "paper_decode_cuda.svg")) as f:
            self.assertNotIn("timing not trusted", f.read())

    def test_missing_data_is_not_measured(self):
        # the peak memory of dfw at T=1920 not recorded; no delta rows on the GPU
        self.assertEqual(edit_rows(os.path.join(self.results, CPU, "paper-cpu.csv"),
                                   lambda r: r["variant"] == "dfw" and r["T"] == "1920", peak_host_bytes=""), 1)
        gpu = os.path.join(self.results, GPU, "paper-cuda.csv")
        with open(gpu) as f:
            kept = [l for l in f if not l.startswith("paper,delta,")]
        with open(gpu, "w") as f:
            f.writelines(kept)
        text = self.report_text()
        self.assertIn("| the recurrent rules need O(1) memory in T | 4 | not measured: dfw not measured (x— over",
                      section(text, CPU, "claims"))
        self.assertNotIn("dfw grows", text)
        trend = next(l for l in section(text, CPU, "decode-trend").splitlines() if "| dfw |" in l)
        self.assertTrue(trend.endswith("| not measured |"), trend)
        self.assertIn("| not measured: dfw flat (fitted change +0% over T=0..1920); delta not measured |",
                      section(text, GPU, "claims"))

    def write_targets(self, machine, backend, rows, machine_field, key, targets):
        """A {cpu,gpu}-targets results file of the first ROWS paper rows (relabelled) and
        the verdicts the bench wrote into its context under KEY."""
        preset = f"{key.split('_')[0]}-targets"
        with open(os.path.join(self.results, machine, f"paper-{backend}.csv")) as f:
            lines = f.readlines()
        with open(os.path.join(self.results, machine, f"{preset}-{backend}.csv"), "w") as f:
            f.writelines([lines[0]] + [l.replace("paper,", f"{preset},", 1) for l in lines[1:1 + rows]])
        with open(os.path.join(self.results, machine, f"{preset}-{backend}.json"), "w") as f:
            f.write(f'{{"context": {{{machine_field}, "commit": "fixture", "{key}": [{targets}]}}, "benchmarks": []}}')

    def test_cpu_targets_verdicts_of_a_disturbed_run_are_inconclusive(self):
        self.write_targets(CPU, "cpu", 2, '"cpu_model": "fixture"', "cpu_targets",
                           '{"name": "target a", "relation": ">= 1", "found": true, "measured": 2.5, "result": "PASS"}, '
                           '{"name": "target b", "relation": ">= 3", "found": true, "measured": 0.5, "result": "MISS"}, '
                           '{"name": "target c", "relation": ">= 1", "found": false, "result": "MISSING"}')
        quiet = section(self.report_text(), CPU, "cpu-targets")
        self.assertIn("| target a | 2.50 | >= 1 | PASS |", quiet)
        self.assertIn("| target b | 0.500 | >= 3 | MISS |", quiet)
        self.assertIn("| target c | — | >= 1 | not measured |", quiet)
        self.assertEqual(edit_rows(os.path.join(self.results, CPU, "cpu-targets-cpu.csv"),
                                   lambda r: r["variant"] == "dfw", disturbed="1"), 1)
        noisy = section(self.report_text(), CPU, "cpu-targets")
        self.assertIn(f"| target a | 2.50 | >= 1 | {INCONCLUSIVE} |", noisy)
        self.assertIn(f"| target b | 0.500 | >= 3 | {INCONCLUSIVE} |", noisy)
        self.assertNotIn("PASS", noisy)
        self.assertNotIn("MISS |", noisy)

    def test_gpu_targets_verdicts_show_under_the_gpu_alone(self):
        text = self.report_text()
        block = text.split("<!-- table:gpu-targets:begin -->")[1].split("<!-- table:gpu-targets:end -->")[0]
        self.assertIn("No `gpu-targets` results yet", block)
        self.write_targets(GPU, "cuda", 1, '"gpu_name": "NVIDIA fixture"', "gpu_targets",
                           '{"name": "gpu target a", "relation": ">= 0.25", "found": true, "measured": 0.3, '
                           '"result": "PASS"}, '
                           '{"name": "gpu target b", "relation": ">= 10", "found": true, "measured": 4, "result": "MISS"}')
        text = self.report_text()
        mine = section(text, GPU, "gpu-targets")
        self.assertIn("| gpu target a | 0.300 | >= 0.25 | PASS |", mine)
        self.assertIn("| gpu target b | 4.00 | >= 10 | MISS |", mine)
        self.assertIn("NVIDIA fixture", mine)
        block = text.split("<!-- table:gpu-targets:begin -->")[1].split("<!-- table:gpu-targets:end -->")[0]
        self.assertNotIn(CPU, block)  # a machine without the file has no heading there

    def test_rows_of_two_commits_are_never_one_series_or_one_heatmap(self):
        self.assertEqual(edit_rows(os.path.join(self.results, CPU, "paper-cpu.csv"),
                                   lambda r: r["variant"] == "dfw" and int(r["T"]) >= 1024, commit="other1"), 8)
        self.assertEqual(edit_rows(os.path.join(self.results, CPU, "grid-cpu.csv"),
                                   lambda r: r["variant"] != "softmax", commit="other1"), 20)
        self.assertEqual(self.plot("--machine", CPU).returncode, 0)
        with open(os.path.join(self.plots, CPU, "paper_decode_cpu.svg")) as f:
            svg = f.read()
        self.assertIn("dfw @fixture", svg)
        self.assertIn("dfw @other1", svg)
        written = os.listdir(os.path.join(self.plots, CPU))
        self.assertIn("grid_cpu_fp32_fixture.png", written)
        self.assertIn("grid_cpu_fp32_other1.png", written)
        self.assertNotIn("grid_cpu_fp32.png", written)
        trend = [l for l in section(self.report_text(), CPU, "decode-trend").splitlines() if "| dfw |" in l]
        self.assertEqual([l.split(" | ")[2] for l in trend], ["fixture", "other1"])

    def test_oom_rows_show_on_the_memory_plot(self):
        paper = os.path.join(self.results, CPU, "paper-cpu.csv")
        with open(paper, "a") as f:
            f.write('paper,softmax,rule=softmax,decode,cpu,fp32,decode,32,1,2048,64,64,64,0,oom,,,,,,0,0,,,,,,,0,0,0,'
                    '"FIXTURE: hand-made test data, not a measurement (2-core x86-64 CPU)",fixture,2,0,33554432,'
                    'planned bytes exceed the memory available\n')
        self.assertEqual(self.plot("--machine", CPU).returncode, 0)
        with open(os.path.join(self.plots, CPU, "paper_decode_cpu.svg")) as f:
            self.assertIn("oom: did not fit (planned bytes)", f.read())
        self.assertIn("| `paper-cpu.csv` | paper | cpu | 49 | 48 | 1 |", section(self.report_text(), CPU, "sources"))

    def test_malformed_csv_is_an_error_naming_the_file(self):
        replace_in(os.path.join(self.results, CPU, "scaling-cpu.csv"), ",407.4,399.2,", ",zero,399.2,")
        self.assert_both_refuse("scaling-cpu.csv:", "must be a number")

    def test_results_outside_a_machine_set_or_of_another_machine_are_refused(self):
        with open(os.path.join(self.results, CPU, "paper-cpu.json"), "w") as f:
            f.write('{"context": {"machine_id": "cpu-other-8c", "commit": "abc1234"}, "benchmarks": []}')
        self.assert_both_refuse("paper-cpu.json: measured on machine 'cpu-other-8c'", f"in the set of '{CPU}'")
        os.remove(os.path.join(self.results, CPU, "paper-cpu.json"))
        shutil.copy(os.path.join(self.results, GPU, "paper-cuda.csv"), self.results)
        self.assert_both_refuse("paper-cuda.csv: results belong in", "<machine-id>/")
        shutil.move(os.path.join(self.results, "paper-cuda.csv"), os.path.join(self.results, CPU))
        self.assert_both_refuse(f"{CPU}: rows of several machines", "a set holds one machine's results")

    def assert_both_refuse(self, *messages):
        for script, extra in ((PLOT, ["--out", self.plots]), (REPORT, ["--report", self.report])):
            done = run(script, "--results", self.results, *extra)
            self.assertEqual(done.returncode, 2, done.stdout + done.stderr)
            for message in messages:
                self.assertIn(message, done.stderr)

    def test_missing_column_is_an_error(self):
        path = os.path.join(self.results, CPU, "check-cpu.csv")
        replace_in(path, "variant,impl,", "variant,implementation,")
        done = self.plot()
        self.assertEqual(done.returncode, 2)
        self.assertIn("check-cpu.csv:1: missing column(s) impl", done.stderr)

    def test_absent_inputs_are_skipped(self):
        empty = os.path.join(self.tmp, "empty")
        os.mkdir(empty)
        done = run(PLOT, "--results", empty, "--out", self.plots)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("skipping every plot", done.stderr)
        self.assertFalse(os.path.exists(self.plots) and os.listdir(self.plots))
        written = run(REPORT, "--results", empty, "--report", self.report)
        self.assertEqual(written.returncode, 0, written.stderr)
        with open(self.report) as f:
            self.assertIn("No results yet in `results/<machine-id>/`", f.read())

    def test_cuda_rows_with_a_roofline_show_it_as_bound_beside_the_time(self):
        path = os.path.join(self.results, GPU, "paper-cuda.csv")
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        for r in rows:
            r["roofline_ms"] = "0.00125" if r["variant"] == "dfw" else ""
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        table = section(self.report_text(), GPU, "decode-time")
        self.assertIn("| dfw cuda fp16 (ms) | dfw cuda fp16 bound (ms) | delta cuda fp16 (ms) |", table)
        self.assertIn("| 1920 | 0.0424 | 0.0110 | 0.00125 | 0.0130 |", table)
        self.assertNotIn("softmax cuda fp16 bound", table)  # no bound in its rows: no column

    def test_static_kernel_table_is_one_block_from_results_static(self):
        block = lambda text: text.split("<!-- table:sass:begin -->")[1].split("<!-- table:sass:end -->")[0]
        self.assertIn("No static analysis yet", block(self.report_text()))
        os.mkdir(os.path.join(self.results, "static"))
        static = os.path.join(self.results, "static", "sass-cuda.csv")
        with open(static, "w") as f:
            f.write("kernel,object,regs,stack_bytes,spill_store_bytes,spill_load_bytes,local_ld,local_st,"
                    "static_smem_bytes,generic_ld,generic_st,ldg,stg,lds,sts,ldsm,cp_async,ldg_128,hmma,threads,"
                    "dyn_smem_bytes,blocks_per_sm,warps_per_sm,limiter,paper_prefill_blocks_per_sm,"
                    "scaling_blocks_per_sm,ptxas\n"
                    "\"k<Fp16, decay>\",k.cu,80,8,4,4,1,1,0,627,142,96,12,0,0,0,0,5,42,256,166656,1,8,shared,0.24,"
                    "0.09-23.27,13.0\n"
                    "\"k<Bf16, decay>\",k.cu,80,8,4,4,1,1,0,88,0,96,12,0,0,0,0,0,42,256,166656,1,8,shared,,,13.0\n")
        text = self.report_text()
        self.assertIn("| `k<Fp16, decay>` | 80 | 4 / 4 | 0.0 | 162.8 | 627 / 142 | 96 / 12 | 5 | 0 / 0 | 0 | 0 | 42 | 256 "
                      "| 8 (1 blocks; shared) | 0.24 | 0.09-23.27 |", block(text))
        self.assertIn("`k<Bf16, decay>` generic 88 / 0", block(text))
        self.assertNotIn("####", block(text))  # one table for the report, not one per machine
        self.assertEqual(self.plot().returncode, 0)  # static/ is no machine set
        replace_in(static, ",627,142,", ",628,142,")
        stale = run(REPORT, "--results", self.results, "--report", self.report, "--check")
        self.assertEqual(stale.returncode, 1, stale.stdout + stale.stderr)

    def test_a_set_without_paper_or_check_skips_those_figures(self):
        shutil.rmtree(os.path.join(self.results, CPU))
        done = self.plot()
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("skipping accuracy plot", done.stderr)
        self.assertEqual(os.listdir(self.plots), [GPU])

    def test_machine_and_commit_from_json_context(self):
        # grid-cpu.csv without machine and commit, as the only file of a third set
        third = os.path.join(self.results, "cpu-json-1c")
        os.mkdir(third)
        shutil.move(os.path.join(self.results, CPU, "grid-cpu.csv"), third)
        path = os.path.join(third, "grid-cpu.csv")
        with open(path) as f:
            text = f.read()
        machine = "FIXTURE: hand-made test data, not a measurement (2-core x86-64 CPU)"
        with open(path, "w") as f:
            f.write(text.replace(f'"{machine}",fixture', ","))
        with open(os.path.join(third, "grid-cpu.json"), "w") as f:
            f.write('{"context": {"machine": "json machine", "commit": "abc1234"}, "benchmarks": []}')
        sources = section(self.report_text(), "cpu-json-1c", "sources")
        self.assertIn("| `grid-cpu.csv` | grid | cpu | 21 | 20 | 0 | 0 | 1 | 0 | json machine | abc1234 |", sources)


    def test_fixed_figures_draw_every_variant_present(self):
        # a variant no fixed list names (a new rule's spec string) still gets its series
        self.assertEqual(edit_rows(os.path.join(self.results, CPU, "scaling-cpu.csv"),
                                   lambda r: r["variant"] == "delta", variant="rule=brand_new,phi=elu1"), 9)
        self.assertEqual(self.plot("--machine", CPU).returncode, 0)
        with open(os.path.join(self.plots, CPU, "sequence_time_scaling_cpu_fp32.svg")) as f:
            self.assertIn("rule=brand_new,phi=elu1 (", f.read())

    def test_any_results_file_is_plotted_with_every_variant_in_it(self):
        # a bench CSV anywhere, with a variant no fixed list names; and a JSON alone
        loose = os.path.join(self.tmp, "loose")
        os.mkdir(loose)
        csv_path = os.path.join(loose, "mine.csv")
        shutil.copy(os.path.join(self.results, CPU, "scaling-cpu.csv"), csv_path)
        edit_rows(csv_path, lambda r: r["variant"] == "delta", variant="ssd")
        json_path = os.path.join(loose, "alone.json")
        case = dict(preset="custom", variant="rule=brand_new,phi=elu1", spec="rule=brand_new,phi=elu1,norm=off",
                    form="recurrent", backend="cpu", dtype="fp32", mode="prefill", B=1, H=1, dk=64, dv=64, m=64,
                    chunk=0, status="ok", machine="json machine", commit="abc1234", disturbed=False,
                    time_unit="ms", run_type="aggregate")
        entries = [dict(case, T=T, run_name=f"c{T}", aggregate_name=name, real_time=ms * T)
                   for T in (256, 512) for name, ms in (("median", 1.0), ("p20", 0.9), ("p80", 1.1))]
        with open(json_path, "w") as f:
            json.dump({"context": {"commit": "abc1234"}, "benchmarks": entries}, f)
        out = os.path.join(self.tmp, "file_plots")
        done = run(PLOT, "--out", out, csv_path, json_path)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(sorted(os.listdir(out)), ["file_alone.png", "file_alone.svg", "file_mine.png",
                                                   "file_mine.svg"])
        with open(os.path.join(out, "file_mine.svg")) as f:
            svg = f.read()
        for variant in ("softmax", "dfw", "linear", "ssd"):
            self.assertIn(f"<!-- {variant} ", svg, f"{variant} has no series")
        self.assertIn(csv_path, svg)
        with open(os.path.join(out, "file_alone.svg")) as f:
            svg = f.read()
        self.assertIn("rule=brand_new,phi=elu1", svg)
        self.assertIn("commit: abc1234", svg)
        replace_in(csv_path, ",407.4,399.2,", ",zero,399.2,")
        done = run(PLOT, "--out", out, csv_path)
        self.assertEqual(done.returncode, 2)
        self.assertIn("mine.csv:", done.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
