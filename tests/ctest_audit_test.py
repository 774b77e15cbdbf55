#!/usr/bin/python3
"""ctest `ctest_audit`: scripts/ctest_audit.py on JUnit files made here. A GPU skip
passes in the nvcc and CPU builds and fails in the emulated one; any other skip
fails in every build; fewer tests run than the floor fails; a run with only
allowed skips and enough tests passes.
Run: /usr/bin/python3 tests/ctest_audit_test.py
"""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))

import ctest_audit  # noqa: E402

GPU_SKIP = "tests/cuda_forms_test.cpp:23: Skipped\nno usable CUDA device: built without CUDA\n"


def junit(*cases):
    body = ""
    for name, status, out in cases:
        skipped = '<skipped message="SKIP_REGULAR_EXPRESSION_MATCHED"/>' if status == "notrun" else ""
        body += f'<testcase name="{name}" status="{status}">{skipped}<system-out>{out}</system-out></testcase>\n'
    f = tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False)
    f.write(f'<?xml version="1.0"?>\n<testsuite>\n{body}</testsuite>\n')
    f.close()
    results = ctest_audit.outcomes(f.name)
    os.remove(f.name)
    return results


class Audit(unittest.TestCase):
    def test_a_gpu_skip_passes_outside_the_emulated_build(self):
        results = junit(("A.ran", "run", "ok"), ("CudaSuite.X", "notrun", GPU_SKIP))
        for kind in ("nvcc", "cpu", "asan"):
            self.assertEqual(ctest_audit.audit(results, kind, 1), ([], 1), kind)
        problems, _ = ctest_audit.audit(results, "emu", 1)
        self.assertEqual(len(problems), 1)
        self.assertIn("CudaSuite.X skipped", problems[0])

    def test_any_other_skip_fails(self):
        results = junit(("A.ran", "run", "ok"),
                        ("Bench.Guarded", "notrun", "x.cpp:1: Skipped\ndfwbench bench reports 'not implemented'\n"))
        for kind in ("nvcc", "cpu", "asan", "emu"):
            problems, _ = ctest_audit.audit(results, kind, 1)
            self.assertEqual(len(problems), 1, kind)
            self.assertIn("Bench.Guarded skipped", problems[0])
            self.assertIn("dfwbench bench reports 'not implemented'", problems[0])

    def test_the_asan_skips_pass_only_in_the_asan_build(self):
        results = junit(("Npy.Speed", "notrun", "Skipped\nmeasured in the build without AddressSanitizer\n"))
        self.assertEqual(ctest_audit.audit(results, "asan", 0)[0], [])
        self.assertEqual(len(ctest_audit.audit(results, "nvcc", 0)[0]), 1)

    def test_fewer_tests_than_the_floor_fail(self):
        results = junit(("A", "run", ""), ("B", "run", ""), ("CudaSuite.X", "notrun", GPU_SKIP))
        self.assertEqual(ctest_audit.audit(results, "nvcc", 2), ([], 2))
        problems, ran = ctest_audit.audit(results, "nvcc", 3)
        self.assertEqual(ran, 2)
        self.assertIn("only 2 tests ran, fewer than the committed floor 3", problems[0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
