#!/usr/bin/python3
"""ctest `sass_check_units`: scripts/sass_check.py's parts on hand-written compiler
output, no CUDA needed: SASS instruction classes (predicated, with modifiers; LD vs LDS
vs LDG vs LDL), res-usage and ptxas -v parsing, demangled names made short (rule names
for RuleKind and for chunked's int), H200 occupancy (registers, shared memory with the
1 KiB reserve, warps), the regressions --check fails on (spills appear, generic LD/ST
grow, HMMA disappear, warps drop) and the ones it does not (fewer generic loads, a new
kernel), and "skipped: cuobjdump not installed" with exit 77 where it is absent.
Run: /usr/bin/python3 tests/sass_check_test.py
"""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import sass_check  # noqa: E402

SASS = """
\t\tFunction : _Z1kPf
\t.headerflags\t@"EF_CUDA_SM90 EF_CUDA_VIRTUAL_SM(EF_CUDA_SM90)"
        /*0000*/                   LDC R1, c[0x0][0x28] ;                              /* 0x00000a00ff017b82 */
        /*0010*/                   LD.E R2, desc[UR4][R2.64] ;                         /* 0x0000000402027980 */
        /*0020*/              @!P0 LD.E.64 R4, desc[UR4][R6.64] ;
        /*0030*/                   ST.E [R2.64], R5 ;
        /*0040*/                   LDS.128 R8, [R3] ;
        /*0050*/                   LDSM.16.M88.4 R12, [R3+0x100] ;
        /*0060*/               @P1 LDG.E.128.CONSTANT R4, desc[UR4][R8.64] ;
        /*0070*/                   STL [R1], R9 ;
        /*0080*/                   LDL.64 R10, [R1] ;
        /*0090*/                   HMMA.16816.F32 R20, R12, R14, R20 ;
        /*00a0*/                   LDGSTS.E.BYPASS.128 [R3], desc[UR4][R8.64] ;
        /*00b0*/                   STS [R3], R4 ;
\t\tFunction : _Z1jPf
        /*0000*/                   EXIT ;
"""

RES = """
Resource usage:
 Common:
  GLOBAL:0
 Function _Z1kPf:
  REG:80 STACK:8 SHARED:1024 LOCAL:0 CONSTANT[0]:864 TEXTURE:0 SURFACE:0 SAMPLER:0
"""

PTXAS = """ptxas info    : Compiling entry function '_Z1kPf' for 'sm_90'
ptxas info    : Function properties for _Z1kPf
    8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads
ptxas info    : Used 80 registers, used 1 barriers, 8 bytes cumulative stack size
"""


def row(**changes):
    r = {"kernel": "k<Fp16, decay>", "spill_store_bytes": "0", "spill_load_bytes": "0", "generic_ld": "10",
         "generic_st": "2", "ldg_128": "3", "hmma": "42", "warps_per_sm": "8", "limiter": "shared", "ptxas": "13.0"}
    r.update({k: str(v) for k, v in changes.items()})
    return r


class SassCheckTest(unittest.TestCase):
    def test_instruction_classes(self):
        counts = sass_check.parse_sass(SASS)
        self.assertEqual(set(counts), {"_Z1kPf", "_Z1jPf"})
        k = counts["_Z1kPf"]
        self.assertEqual((k["generic_ld"], k["generic_st"], k["lds"], k["sts"], k["ldsm"], k["ldg"]), (2, 1, 1, 1, 1, 1))
        self.assertEqual((k["local_ld"], k["local_st"], k["hmma"], k["cp_async"]), (1, 1, 1, 1))
        self.assertEqual(k["ldg_128"], 1)  # LDG.E.128.CONSTANT; the 16-byte LDGSTS is cp.async, not LDG
        self.assertEqual(sum(counts["_Z1jPf"].values()), 0)

    def test_res_usage_and_ptxas(self):
        self.assertEqual(sass_check.parse_res_usage(RES), {"_Z1kPf": {"regs": 80, "stack": 8, "shared": 1024}})
        self.assertEqual(sass_check.parse_ptxas(PTXAS), {"_Z1kPf": {"spill_store": 4, "spill_load": 12, "regs": 80}})

    def test_short_names(self):
        self.assertEqual(sass_check.short_name("m", "void dfw::(anonymous namespace)::chunked_output_kernel<dfw::Fp16, true>"
                                                    "(dfw::ChunkedPrefillLaunch<dfw::Fp16>, dfw::ChunkedLayout, "
                                                    "dfw::(anonymous namespace)::ChunkedPassArgs)"),
                         "chunked_output_kernel<Fp16, shared>")
        self.assertEqual(sass_check.short_name("m", "void dfw::(anonymous namespace)::chunked_state_kernel<dfw::Bf16, false>"
                                                    "(dfw::ChunkedPrefillLaunch<dfw::Bf16>, dfw::ChunkedLayout, "
                                                    "dfw::(anonymous namespace)::ChunkedPassArgs)"),
                         "chunked_state_kernel<Bf16, spill>")
        self.assertEqual(sass_check.short_name("m", "void dfw::(anonymous namespace)::fast_weight_kernel<float, "
                                                    "(dfw::RuleKind)2, 16>(dfw::FastWeightLaunch<float>, int, int)"),
                         "fast_weight_kernel<float, delta, 16>")

    def test_occupancy_on_h200(self):
        # 80 registers x 256 threads, 163 KiB dynamic + 1 KiB reserve: one block by shared memory.
        self.assertEqual(sass_check.occupancy(80, 166656 + 1024, 256), (1, 8, "shared"))
        # 168 registers: 5376 per warp, 4 warps a block -> 3 blocks by registers.
        self.assertEqual(sass_check.occupancy(168, 47448 + 1024, 128), (3, 12, "registers"))
        # 14 registers, no shared memory: 16 blocks of 4 warps fill the 64 warps.
        self.assertEqual(sass_check.occupancy(14, 1024, 128), (16, 64, "warps"))

    def test_regressions_fail(self):
        base = [row()]
        for changed, word in ((row(spill_store_bytes=4), "spills grew"), (row(generic_ld=11), "generic LD/ST grew"),
                              (row(hmma=0), "tensor-core instructions disappeared"),
                              (row(ldg_128=0), "16-byte global loads (LDG.128) disappeared"),
                              (row(warps_per_sm=4), "warps per SM dropped")):
            failures, _ = sass_check.regressions(base, [changed])
            self.assertEqual(len(failures), 1, failures)
            self.assertIn(word, failures[0])

    def test_improvements_and_new_kernels_pass(self):
        failures, notes = sass_check.regressions([row()], [row(generic_ld=0, generic_st=0, warps_per_sm=16),
                                                          row(kernel="new<Fp16>")])
        self.assertEqual(failures, [])
        self.assertEqual(notes, ["new<Fp16>: new, not in the baseline"])

    def test_skipped_without_cuobjdump(self):
        with tempfile.TemporaryDirectory() as home:
            env = {"PATH": "/usr/bin:/bin", "HOME": home, "PYTHONNOUSERSITE": "1"}
            done = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "sass_check.py"), "--check",
                                   "--build", home], capture_output=True, text=True, env=env, timeout=60)
        if "skipped: cuobjdump not installed" not in done.stdout:
            self.skipTest(f"cuobjdump is installed system-wide here: {done.stdout.strip()}")
        self.assertEqual(done.returncode, 77)


if __name__ == "__main__":
    unittest.main()
