#!/usr/bin/python3
"""ctest `report_verdicts`: every verdict scripts/report.py writes into REPORT.md,
judged on rows made here (no files, no plots). For each claim and rule: rows on
which it must hold, rows on which it must not, and rows with data missing, which
must read "not measured" and never "holds" (nor "grows" from a NaN ratio).

  claims 1-4 (paper preset, decode): softmax O(T) time, dfw/delta flat time,
    softmax O(T) memory, dfw/delta constant memory;
  claim 5 and the crossover table: the first T from which the variant is clearly
    faster at that T and at every larger measured T;
  the cpu-targets block: PASS / MISS as the bench wrote them, MISSING, unfound or
    NaN measurements "not measured", a disturbed row "inconclusive";
  the training targets: the chunked backward / forward ratio from the rows' medians,
    or from the pairs the run measured (inconclusive when the pairs spread).
Run: /usr/bin/python3 tests/report_verdicts_test.py
"""
import math
import os
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import analysis  # noqa: E402
import report  # noqa: E402
from results_io import BENCH_CSV_COLUMNS, Results  # noqa: E402

NOT_MEASURED, INCONCLUSIVE = analysis.NOT_MEASURED, analysis.INCONCLUSIVE
DECODE_T = (128, 512, 1024, 2048)


def row(variant, T, ms, preset="paper", mode="decode", form="decode", memory=1e6, spread=0.0, **extra):
    r = {"preset": preset, "variant": variant, "spec": variant, "form": form, "backend": "cpu", "dtype": "fp32",
         "mode": mode, "B": 1, "H": 1, "T": T, "dk": 64, "dv": 64, "m": 64, "chunk": 64, "status": "ok",
         "time_median_ms": ms, "time_p20_ms": ms * (1 - spread), "time_p80_ms": ms * (1 + spread),
         "repetitions": 5, "flops": math.nan, "bytes": math.nan, "ceiling_gflops": math.nan,
         "ceiling_gbps": math.nan, "peak_host_bytes": memory, "peak_device_bytes": math.nan, "disturbed": 0,
         "machine": "test machine", "commit": "c0ffee", "file": f"{preset}-cpu.csv", "gates": "uniform"}
    r.update(extra)
    return r


def results_of(rows, contexts=None):
    results = Results(os.path.join("/nonexistent", "cpu-test-1c"))
    results.bench = rows
    results.contexts = contexts or {}
    return results


def decode_rows(softmax_grows=True, dfw_flat=True, softmax_memory_grows=True, dfw_memory_constant=True):
    rows = []
    for T in DECODE_T:
        rows.append(row("softmax", T, 0.01 * T if softmax_grows else 1.0,
                        memory=1e6 + 1e4 * T if softmax_memory_grows else 1e6))
        for variant in ("dfw", "delta"):
            rows.append(row(variant, T, 1.0 if dfw_flat else 0.01 * T,
                            memory=1e6 if dfw_memory_constant else 1e6 + 1e4 * T))
    return rows


def claims(rows):
    return report._claim_cells(results_of(rows), "cpu")


class DecodeClaims(unittest.TestCase):
    def test_every_claim_holds_on_rows_that_show_it(self):
        cells = claims(decode_rows())
        for i in range(4):
            self.assertTrue(cells[i].startswith("holds: "), cells[i])
        self.assertIn("softmax grows", cells[0])
        self.assertIn("dfw flat", cells[1])
        self.assertIn("delta flat", cells[1])
        self.assertIn("softmax grows", cells[2])
        self.assertIn("dfw constant", cells[3])

    def test_each_claim_does_not_hold_on_rows_against_it(self):
        for i, kwargs in enumerate(({"softmax_grows": False}, {"dfw_flat": False},
                                    {"softmax_memory_grows": False}, {"dfw_memory_constant": False})):
            cells = claims(decode_rows(**kwargs))
            self.assertTrue(cells[i].startswith("does not hold: "), f"{kwargs}: {cells[i]}")
            for j in set(range(4)) - {i}:
                self.assertTrue(cells[j].startswith("holds: "), f"{kwargs}: claim {j}: {cells[j]}")

    def test_one_variant_against_the_claim_is_enough(self):
        rows = [r for r in decode_rows() if r["variant"] != "delta"]
        rows += [row("delta", T, 0.01 * T, memory=1e6 + 1e4 * T) for T in DECODE_T]
        cells = claims(rows)
        self.assertTrue(cells[1].startswith("does not hold: "), cells[1])
        self.assertIn("delta grows", cells[1])
        self.assertTrue(cells[3].startswith("does not hold: "), cells[3])

    def test_an_absent_variant_is_not_measured(self):
        cells = claims([r for r in decode_rows() if r["variant"] != "softmax"])
        for i in (0, 2):
            self.assertTrue(cells[i].startswith(f"{NOT_MEASURED}: softmax {NOT_MEASURED}"), cells[i])
        cells = claims([r for r in decode_rows() if r["variant"] != "delta"])
        self.assertTrue(cells[1].startswith(f"{NOT_MEASURED}: "), cells[1])
        self.assertIn(f"delta {NOT_MEASURED}", cells[1])
        self.assertTrue(claims([r for r in decode_rows() if r["T"] == 128]) is None)  # one T: no trend

    def test_missing_or_untracked_memory_is_not_measured_never_grows(self):
        for where in (DECODE_T[0], DECODE_T[-1]):
            for value in (math.nan, 0.0):
                rows = decode_rows()
                for r in rows:
                    if r["T"] == where:
                        r["peak_host_bytes"] = value
                cells = claims(rows)
                for i in (2, 3):
                    self.assertTrue(cells[i].startswith(f"{NOT_MEASURED}: "), f"T={where} {value}: {cells[i]}")
                    self.assertNotIn("grows", cells[i])
                    self.assertNotIn("constant", cells[i])
                trend = next(t for t in analysis.decode_trends(rows) if t.variant == "softmax")
                self.assertEqual(report.memory_verdict(trend), NOT_MEASURED)

    def test_a_nan_time_trend_is_not_measured(self):
        trend = analysis.decode_trends(decode_rows())[0]._replace(change=math.nan)
        self.assertEqual(report.time_verdict(trend), NOT_MEASURED)

    def test_a_disturbed_row_makes_its_claim_inconclusive(self):
        rows = decode_rows(softmax_grows=False)
        next(r for r in rows if r["variant"] == "softmax")["disturbed"] = 1
        cells = claims(rows)
        for i in (0, 2):
            self.assertTrue(cells[i].startswith(f"{INCONCLUSIVE}: "), cells[i])
        self.assertTrue(cells[1].startswith("holds: "), cells[1])

    def test_thresholds(self):
        trend = analysis.decode_trends(decode_rows())[0]
        self.assertEqual(report.time_verdict(trend._replace(change=0.5)), "flat")
        self.assertEqual(report.time_verdict(trend._replace(change=0.51)), "grows")
        self.assertEqual(report.time_verdict(trend._replace(change=-0.51)), "falls")
        self.assertEqual(report.memory_verdict(trend._replace(mem_ratio=1.05)), "constant")
        self.assertEqual(report.memory_verdict(trend._replace(mem_ratio=1.06)), "grows")


def prefill_rows(variant_ms, softmax_ms=None, spread=0.0):
    """paper-prefill rows of softmax (blocked) and dfw (chunked) at T = 256, 512, ..."""
    softmax_ms = softmax_ms or [10.0] * len(variant_ms)
    rows = []
    for i, (v, s) in enumerate(zip(variant_ms, softmax_ms)):
        T = 256 * (i + 1)
        rows.append(row("softmax", T, s, preset="paper-prefill", mode="prefill", form="blocked", spread=spread))
        if v is not None:
            rows.append(row("dfw", T, v, preset="paper-prefill", mode="prefill", form="chunked", spread=spread))
    return rows


class Crossover(unittest.TestCase):
    def crossing(self, rows):
        found = analysis.crossovers(rows)
        self.assertEqual(len(found), 1)
        return found[0]

    def test_faster_from_a_T_on(self):
        c = self.crossing(prefill_rows([20, 12, 8, 5]))
        self.assertEqual((c.verdict, c.T, c.forms), ("from T", 768, "chunked"))
        self.assertEqual(c.speedup_at_max, 2.0)
        c = self.crossing(prefill_rows([5, 5, 5, 5]))
        self.assertEqual((c.verdict, c.T), ("at every T", 256))

    def test_faster_at_a_T_but_not_at_every_larger_one_is_not_the_crossover(self):
        c = self.crossing(prefill_rows([5, 20, 5, 5]))
        self.assertEqual((c.verdict, c.T), ("from T", 768))
        c = self.crossing(prefill_rows([5, 5, 5, 20]))
        self.assertEqual((c.verdict, c.T), ("not in range", None))
        self.assertEqual(c.max_T, 1024)

    def test_within_the_spread_is_not_faster(self):
        # medians 9 vs 10, but the variant's p80 (9 x 1.2) is above softmax's p20 (10 x 0.8)
        c = self.crossing(prefill_rows([9, 9, 9], spread=0.2))
        self.assertEqual(c.verdict, "not in range")

    def test_claim_and_table_read_the_crossover(self):
        rows = decode_rows() + prefill_rows([20, 12, 8, 5])
        self.assertEqual(claims(rows)[4], "dfw fp32: faster from T=768 (chunked)")
        table = report.block_crossover(results_of(rows))
        self.assertIn("| paper-prefill | cpu | fp32 | c0ffee | dfw | 768 | chunked |", table)
        rows = decode_rows() + prefill_rows([5, 5, 5, 20])
        self.assertEqual(claims(rows)[4], "dfw fp32: slower up to T=1024")
        self.assertIn("| not up to T=1024 |", report.block_crossover(results_of(rows)))

    def test_missing_prefill_data_is_not_measured(self):
        self.assertEqual(claims(decode_rows())[4], f"paper-prefill {NOT_MEASURED}")
        only_softmax = decode_rows() + prefill_rows([None, None, None])
        self.assertEqual(claims(only_softmax)[4], f"paper-prefill {NOT_MEASURED}")
        self.assertIn("_No `paper-prefill` or `scaling` results", report.block_crossover(results_of(only_softmax)))

    def test_a_disturbed_row_makes_the_crossover_inconclusive(self):
        rows = decode_rows() + prefill_rows([20, 12, 8, 5])
        rows[-1]["disturbed"] = 1
        self.assertEqual(claims(rows)[4], f"dfw fp32: {INCONCLUSIVE}")


TARGETS_FILE = "cpu-targets-cpu.csv"


def targets_block(targets, disturbed=False):
    rows = [row("dfw", 128, 1.0, preset="cpu-targets", file=TARGETS_FILE, disturbed=int(disturbed))]
    context = {TARGETS_FILE: {"cpu_model": "test cpu", "commit": "c0ffee", "cpu_targets": targets}}
    return report.block_cpu_targets(results_of(rows, context))


def target(result, measured=1.5, found=True):
    t = {"name": "target x", "relation": ">= 1", "found": found, "result": result}
    if measured is not None:
        t["measured"] = measured
    return t


class CpuTargets(unittest.TestCase):
    def test_pass_and_miss_are_reported_as_the_bench_judged(self):
        self.assertIn("| target x | 1.50 | >= 1 | PASS |", targets_block([target("PASS")]))
        self.assertIn("| target x | 0.500 | >= 1 | MISS |", targets_block([target("MISS", 0.5)]))
        self.assertIn("ceilings measured in the same run", targets_block([target("PASS")]))

    def test_missing_unfound_or_nan_measurements_are_not_measured(self):
        for t in (target("MISSING", None, False), target("PASS", None, False), target("PASS", None),
                  target("PASS", math.nan), target("MISS", math.inf)):
            block = targets_block([t])
            self.assertIn(f"| {NOT_MEASURED} |", block, t)
            self.assertNotIn("PASS |", block, t)
            self.assertNotIn("MISS |", block, t)

    def test_a_disturbed_run_is_inconclusive(self):
        for result in ("PASS", "MISS"):
            self.assertIn(f"| {INCONCLUSIVE} |", targets_block([target(result)], disturbed=True))
            self.assertIn(f"| {INCONCLUSIVE} |", targets_block([dict(target(result), disturbed=True)]))

    def test_a_verdict_from_pairs_stands_in_a_run_with_disturbed_rows(self):
        paired = dict(target("PASS", 1.4), measured_in="pairs", row_measured=0.8)
        block = targets_block([paired], disturbed=True)
        self.assertIn("| target x | 1.40 in pairs (rows: 0.800) | >= 1 | PASS |", block)
        # dfwbench marks it disturbed when the pairs themselves spread too far
        block = targets_block([dict(paired, result="inconclusive (disturbed run)", disturbed=True)])
        self.assertIn(f"| {INCONCLUSIVE} |", block)

    def test_the_bound_is_not_a_verdict(self):
        block = targets_block([dict(target("bound"), relation="bound")])
        self.assertIn("| target x | 1.50 | an upper bound, not a target | — |", block)

    def test_no_targets_in_the_set(self):
        self.assertIn("_No `cpu-targets` results", targets_block([]))


CHUNKED_PAIR = "dfw chunked backward / chunked forward, B1 H12 T4096 d64"


def training_targets(paired=None, disturbed=False):
    """The training block's targets from the four B1 H12 T4096 rows (chunked bwd / fwd
    = 4 by their medians) and, if given, the pairs the run measured."""
    rows = [row("dfw", 4096, ms, preset="training", mode=mode, form=form, file="training-cpu.csv", H=12,
                disturbed=int(disturbed), state_bytes=1e6)
            for mode, form, ms in (("prefill", "chunked", 10.0), ("bwd", "chunked", 40.0),
                                   ("prefill", "recurrent", 20.0), ("bwd", "recurrent", 100.0))]
    context = {"training-cpu.csv": {"run_quality": {"max_spread_p80_over_p20": 1.25},
                                    "paired_ratios": [paired] if paired else []}}
    return report.training_targets(results_of(rows, context))


def pair(median, p20=None, p80=None):
    return {"name": CHUNKED_PAIR, "status": "ok", "pairs": 15, "median": median,
            "p20": median * 0.98 if p20 is None else p20, "p80": median * 1.02 if p80 is None else p80}


class TrainingTargets(unittest.TestCase):
    def test_the_rows_medians_judge_without_pairs(self):
        self.assertIn("| 4.00 | <= 3 | MISS |", training_targets())
        self.assertIn(f"| 4.00 | <= 3 | {INCONCLUSIVE} |", training_targets(disturbed=True))

    def test_pairs_judge_when_measured_even_in_a_disturbed_run(self):
        self.assertIn("| 2.50 (in pairs, p20 2.45, p80 2.55) | <= 3 | PASS |", training_targets(pair(2.5)))
        self.assertIn("| <= 3 | MISS |", training_targets(pair(3.5), disturbed=True))

    def test_pairs_that_spread_more_than_a_row_may_are_inconclusive(self):
        self.assertIn(f"| <= 3 | {INCONCLUSIVE} |", training_targets(pair(2.5, 2.0, 2.6)))

    def test_a_pair_that_did_not_run_is_not_used(self):
        self.assertIn("| 4.00 | <= 3 | MISS |", training_targets({"name": CHUNKED_PAIR, "status": "oom"}))


class Limits(unittest.TestCase):
    def test_the_accuracy_limits_are_docs_maths(self):
        self.assertEqual(report.CHECK_LIMITS, {"fp32": 1e-4, "fp16": 5e-3, "bf16": 2e-2})


def peer_results(peer_ms, dfw_ms, peer_extra=None, bench_extra=None, paired_with="paper-prefill-cpu.csv"):
    """A set with softmax blocked rows at T = 128, 256, 512 in paper-prefill-cpu.csv and
    torch_sdpa rows beside them in peers-paper-prefill-cpu.csv (paired_with)."""
    bench, peers = [], []
    for i, T in enumerate((128, 256, 512)):
        common = dict(preset="paper-prefill", mode="prefill", chunk=0)
        bench.append(row("softmax", T, dfw_ms[i], form="blocked", **common, **(bench_extra or {}).get(T, {})))
        extra = dict({"note": ""}, **(peer_extra or {}).get(T, {}))
        peers.append(row("softmax", T, peer_ms[i], form="torch_sdpa", file="peers-paper-prefill-cpu.csv",
                         **common, **extra))
    results = results_of(bench, {"peers-paper-prefill-cpu.csv": {"paired_with": paired_with}})
    results.peers = peers
    results.files = [("paper-prefill-cpu.csv", "bench", bench), ("peers-paper-prefill-cpu.csv", "peers", peers)]
    return results


class PeerVerdicts(unittest.TestCase):
    """REPORT.md's "Beside PyTorch" block: peer time / dfwbench time per case over T."""

    def comparison(self, *args, **kwargs):
        comparisons = analysis.peer_comparisons(peer_results(*args, **kwargs))
        self.assertEqual(len(comparisons), 1)
        return comparisons[0]

    def test_dfwbench_faster_at_every_T(self):
        c = self.comparison((2.0, 4.0, 9.0), (1.0, 2.0, 3.0))
        self.assertEqual(c.verdict, "dfwbench faster at every T")
        self.assertEqual(c.Ts, [128, 256, 512])
        self.assertEqual([round(r, 6) for r in c.ratios], [2.0, 2.0, 3.0])
        self.assertEqual((c.form, c.peer), ("blocked", "torch_sdpa"))

    def test_peer_faster_at_one_T_is_named(self):
        self.assertEqual(self.comparison((2.0, 1.5, 9.0), (1.0, 2.0, 3.0)).verdict, "peer faster at T = 256")

    def test_a_disturbed_row_on_either_side_is_inconclusive(self):
        for kwargs in ({"peer_extra": {256: {"disturbed": 1}}}, {"bench_extra": {512: {"disturbed": 1}}}):
            self.assertEqual(self.comparison((0.5, 0.5, 0.5), (1.0, 1.0, 1.0), **kwargs).verdict, INCONCLUSIVE)

    def test_a_peer_that_failed_its_check_is_not_timed(self):
        failed = {T: {"status": "error", "time_median_ms": math.nan, "note": "peer fails the accuracy check: NaN"}
                  for T in (128, 256, 512)}
        c = self.comparison((1, 1, 1), (1, 1, 1), peer_extra=failed)
        self.assertTrue(c.verdict.startswith("peer not timed: error (peer fails the accuracy check"), c.verdict)
        self.assertEqual(c.ratios, [])

    def test_rows_of_another_run_are_never_paired(self):
        c = self.comparison((2.0, 4.0, 9.0), (1.0, 2.0, 3.0), paired_with="paper-prefill-cpu-other-run.csv")
        self.assertEqual(c.verdict, NOT_MEASURED)

    def test_the_block_shows_ratio_range_and_times(self):
        text = report.block_peers(peer_results((2.0, 4.0, 9.0), (1.0, 2.0, 3.0)))
        self.assertIn("| paper-prefill | softmax | prefill |", text)
        self.assertIn("2.00x – 3.00x", text)
        self.assertIn("T=512: 3.00 vs 9.00 ms", text)

    def test_fla_peers_on_a_gpu_pair_with_the_form_they_stand_beside(self):
        # peers.py --backend cuda --name paper-prefill-peers: a custom sweep's files, fp16 rows.
        gpu = dict(backend="cuda", dtype="fp16", preset="custom", mode="prefill", chunk=0)
        bench = [row("delta", T, 1.0, form="recurrent", file="paper-prefill-peers-cuda.csv", **gpu) for T in (512, 1024)]
        peers = [row("delta", T, ms, form=peer, file="peers-paper-prefill-peers-cuda.csv", note="", **gpu)
                 for T in (512, 1024) for peer, ms in (("fla_chunk_delta_rule", 0.5), ("fla_fused_recurrent_delta_rule", 2.0))]
        results = results_of(bench, {"peers-paper-prefill-peers-cuda.csv": {"paired_with": "paper-prefill-peers-cuda.csv"}})
        results.peers = peers
        results.files = [("paper-prefill-peers-cuda.csv", "bench", bench), ("peers-paper-prefill-peers-cuda.csv", "peers", peers)]
        by_peer = {c.peer: c for c in analysis.peer_comparisons(results)}
        self.assertEqual(set(by_peer), {"fla_chunk_delta_rule", "fla_fused_recurrent_delta_rule"})
        self.assertEqual(by_peer["fla_chunk_delta_rule"].verdict, "peer faster at T = 512, 1024")
        self.assertEqual(by_peer["fla_fused_recurrent_delta_rule"].verdict, "dfwbench faster at every T")
        self.assertEqual({c.preset for c in by_peer.values()}, {"paper-prefill-peers"})
        self.assertEqual({c.form for c in by_peer.values()}, {"recurrent"})

    def test_peer_files_stay_out_of_the_bench_rows(self):
        import tempfile
        with tempfile.TemporaryDirectory() as root:
            d = os.path.join(root, "cpu-test-1c")
            os.makedirs(d)
            header = ",".join(BENCH_CSV_COLUMNS)
            line = ("paper-prefill,softmax,rule=softmax,{form},cpu,fp32,prefill,1,1,128,64,64,64,0,ok,1.0,0.9,1.1,5,"
                    "128,1,1,1,1,100,10,0.01,0.1,1000,0,0,m,c0ffee,2,0,,,uniform,")
            for name, form in (("paper-prefill-cpu.csv", "blocked"), ("peers-paper-prefill-cpu.csv", "torch_sdpa")):
                with open(os.path.join(d, name), "w") as f:
                    f.write(header + "\n" + line.format(form=form) + "\n")
            results = Results(d)
            self.assertEqual([r["form"] for r in results.bench], ["blocked"])
            self.assertEqual([r["form"] for r in results.peers], ["torch_sdpa"])
            with open(os.path.join(d, "peers-paper-prefill-cpu.csv"), "w") as f:
                f.write(header + "\n" + line.format(form="blocked") + "\n")
            with self.assertRaisesRegex(Exception, "not a known peer"):
                Results(d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
