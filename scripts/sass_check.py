#!/usr/bin/python3
"""Static performance check of the CUDA kernels, without a GPU: per kernel
instantiation in the nvcc build's objects (BUILD/kernels/CMakeFiles/dfw_kernels.dir/
*.cu.o, sm_90 cubins), from the compiler's own output:
  - registers, stack (cuobjdump -res-usage) and spill store/load bytes (ptxas -v, the
    one beside the build's nvcc, on the PTX embedded in the same object, with its ptxas
    options; its register count must equal the cubin's);
  - static shared memory (res-usage's SHARED less the 1 KiB sm_90 reserves per block);
  - from the SASS (cuobjdump -sass): local loads/stores (LDL/STL: spills and stack),
    generic LD/ST (shared or global memory reached through generic pointers), LDG/STG,
    LDS/STS, LDSM (ldmatrix), LDGSTS (cp.async), 16-byte global loads (LDG.128) and
    tensor-core HMMA/HGMMA counts (static instruction counts, not executions);
  - resident blocks and warps per SM at the block size and dynamic shared memory the
    host launch code uses at d = m = 64 (LAUNCH below), from H200 (sm_90) limits;
  - blocks launched per SM (grid / 132 SMs) over the paper-prefill and scaling shapes.
Writes results/static/sass-cuda.csv (static: it depends on the compiler and sm_90, not
on the machine); that committed file is the baseline `--check` compares a fresh build
with: it fails (exit 1) when a kernel's spills grow, its generic LD/ST count grows, its
tensor-core instructions or its 16-byte global loads disappear or its resident warps
per SM drop. Exit 77 (skipped)
when cuobjdump or the nvcc build is absent: cuobjdump is optional
(`pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm`, found on PATH, in CUDA's bin
or in a Python site-packages nvidia/cu*/bin; cuobjdump 13.5 and later disassembles
through nvdisasm, whose directory is put on PATH for it, and without it the check is
skipped with that reason).
Run: /usr/bin/python3 scripts/sass_check.py [--build DIR] [--out CSV] [--check]
"""
import argparse
import concurrent.futures
import csv
import glob
import os
import re
import shutil
import site
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = os.path.join(ROOT, "results", "static", "sass-cuda.csv")
SKIP = 77

# H200 (sm_90) limits, CUDA occupancy calculator terms.
SMS = 132
REGS_PER_SM = 65536
REG_ALLOC_PER_WARP = 256          # registers are allocated per warp in units of 256
SMEM_PER_SM = 228 * 1024
SMEM_RESERVED_PER_BLOCK = 1024    # the 1 KiB the runtime reserves per block (sm_8x, sm_90)
SMEM_ALLOC = 128                  # shared memory allocation unit
MAX_DYN_SMEM_PER_BLOCK = 227 * 1024
WARPS_PER_SM = 64
BLOCKS_PER_SM = 32

RULES = ["add", "gated", "delta", "decay"]  # kernels/rule_math.hpp RuleKind order


def flash_smem(elem, d=64, tile=64):
    """flash_prefill_kernel.cu Layout<E, D>::total: Q, two K and two V tiles of `tile`
    rows of D elements and 16 bytes of padding."""
    return 5 * tile * (elem * d + 16)


def flash_backward_smem(d=64, tile=32):
    """flash_backward_kernel.cu layout_for(d, d).total floats: Q, K, V, dY tiles of
    rows d + 1, P and dS (tile x tile + 1), L and D."""
    return 4 * (4 * tile * (d + 1) + 2 * tile * (tile + 1) + 2 * tile)


def fast_weight_smem(m, d=64, T=1 << 30):
    """fast_weight_kernel.cu launch_rule: Tc tokens of (2 dk + 2 m + 19) floats, Tc <= 32."""
    per_token = 2 * d + 2 * m + 19
    return min(32, T, 48 * 1024 // (4 * per_token)) * per_token * 4


# Host launch code per kernel family: threads per block, dynamic shared memory at
# d = m = 64 (fast_weight N = 16 at m = 256, its smallest m), and grid(B, H, T).
LAUNCH = {
    # chunked_prefill_kernel.cu: the two chunk passes grid min(B*H*ceil(T / 64), 8 * SMs),
    # block 256; the layouts at C = 64, d = m = rows = 64 (chunked_prefill_layout.hpp; pinned by
    # tests/chunked_layout_test.cpp); the spill instantiations (n = 0) run only when the
    # arrays pass the 227 KiB opt-in limit, with that much. The scan: blocks of 256 over
    # B*H*(64*64 / 256).
    "chunked_state_kernel": (256, lambda e, n: 82176 if n else MAX_DYN_SMEM_PER_BLOCK,
                             lambda B, H, T: min(B * H * -(-T // 64), 8 * SMS)),
    "chunked_output_kernel": (256, lambda e, n: 111616 if n else MAX_DYN_SMEM_PER_BLOCK,
                              lambda B, H, T: min(B * H * -(-T // 64), 8 * SMS)),
    "chunked_state_scan_kernel": (256, lambda e, n: 0, lambda B, H, T: B * H * 16),
    # chunked_backward_kernel.cu: the three chunk kernels grid min(B*H*ceil(T / 16), 4 * SMs),
    # block 256, the layout at C = 16, m = rows = 64 (chunked_backward_sizes.hpp): 24240
    # floats; the two scans blocks of 256 over B*H*(64*64 / 256), no shared memory.
    "chunk_state_kernel": (256, lambda e, n: 4 * 24240, lambda B, H, T: min(B * H * -(-T // 16), 4 * SMS)),
    "chunk_weights_kernel": (256, lambda e, n: 4 * 24240, lambda B, H, T: min(B * H * -(-T // 16), 4 * SMS)),
    "chunk_grads_kernel": (256, lambda e, n: 4 * 24240, lambda B, H, T: min(B * H * -(-T // 16), 4 * SMS)),
    "scan_kernel": (256, lambda e, n: 0, lambda B, H, T: B * H * 16),
    # flash_prefill_kernel.cu: grid (ceil(T / 64), B*H), block 128; n: the head width D.
    "flash_prefill_kernel": (128, lambda e, n: flash_smem(e, n), lambda B, H, T: -(-T // 64) * B * H),
    # flash_backward_kernel.cu: the tile kernels grid (ceil(T / 32), B*H), block 128;
    # D: one warp per token.
    "flash_backward_dkdv_kernel": (128, lambda e, n: flash_backward_smem(), lambda B, H, T: -(-T // 32) * B * H),
    "flash_backward_dq_kernel": (128, lambda e, n: flash_backward_smem(), lambda B, H, T: -(-T // 32) * B * H),
    "flash_backward_delta_kernel": (128, lambda e, n: 0, None),
    # recurrent_backward_kernel.cu: the walks grid B*H*ceil(dv / 16), block 128, no shared
    # memory but the reverse walk's column sums at 16 columns per lane (ColumnSums: 128 x 16
    # floats); the gate kernel one warp per token.
    "recurrent_checkpoint_kernel": (128, lambda e, n: 0, None),
    "recurrent_reverse_kernel": (128, lambda e, n: 4 * 128 * 16 if n == 16 else 0, None),
    "gate_gradient_kernel": (128, lambda e, n: 0, None),
    # feature_backward_kernel.cu: one token row per block, block 128; shared (dk + 4)
    # floats (rows), (3 dk + 2 m + 4) (vjp); the parameter kernel none.
    "feature_rows_kernel": (128, lambda e, n: 4 * (64 + 4), None),
    "feature_vjp_kernel": (128, lambda e, n: 4 * (3 * 64 + 2 * 64 + 4), None),
    "feature_param_grad_kernel": (128, lambda e, n: 0, None),
    # fast_weight_kernel.cu: grid B*H*ceil(dv / 16), block 128.
    "fast_weight_kernel": (128, lambda e, n: fast_weight_smem(64 if n == 4 else 256),
                           lambda B, H, T: B * H * 4),
    # softmax_decode_kernel.cu: block 128; the split kernel takes 4 (dv + 2) floats.
    "flash_decode_split_kernel": (128, lambda e, n: 4 * 4 * 66, None),
    "flash_decode_combine_kernel": (128, lambda e, n: 0, None),
    "kernel_image_probe": (1, lambda e, n: 0, None),
}
ELEM = {"float": 4, "Fp16": 2, "Bf16": 2}

PAPER_PREFILL = [(32, 1, T) for T in range(128, 1921, 128)]
SCALING = [(65536 // T, 12, T) for T in (256 << i for i in range(9))]
# Which instantiations each preset launches on cuda (fp16): paper-prefill runs softmax
# blocked, dfw chunked and recurrent, delta recurrent; scaling's --forms best probes
# every prefill form of every preset variant, so any fp16 prefill kernel may run.
PRESET_USES = {
    "paper_prefill": re.compile(r"^(flash_prefill_kernel<Fp16, 64>|chunked_(state|output)_kernel<Fp16, shared>|"
                                r"chunked_state_scan_kernel|"
                                r"fast_weight_kernel<Fp16, (decay|delta), 4>)$"),
    "scaling": re.compile(r"^(flash_prefill_kernel<Fp16, 64>|chunked_(state|output)_kernel<Fp16, shared>|"
                          r"chunked_state_scan_kernel|fast_weight_kernel<Fp16, \w+, \d+>)$"),
}

COLUMNS = ["kernel", "object", "regs", "stack_bytes", "spill_store_bytes", "spill_load_bytes", "local_ld",
           "local_st", "static_smem_bytes", "generic_ld", "generic_st", "ldg", "stg", "lds", "sts", "ldsm",
           "cp_async", "ldg_128", "hmma", "threads", "dyn_smem_bytes", "blocks_per_sm", "warps_per_sm", "limiter",
           "paper_prefill_blocks_per_sm", "scaling_blocks_per_sm", "ptxas"]
COUNTS = {"LDL": "local_ld", "STL": "local_st", "LD": "generic_ld", "ST": "generic_st", "LDG": "ldg",
          "STG": "stg", "LDS": "lds", "STS": "sts", "LDSM": "ldsm", "LDGSTS": "cp_async", "HMMA": "hmma",
          "HGMMA": "hmma"}
INSTRUCTION = re.compile(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)*)")


def find_tool(name):
    """PATH, CUDA's bin, then nvidia/cu*/bin in any site-packages (the PyPI wheels)."""
    found = os.environ.get(name.upper()) or shutil.which(name)
    if found:
        return found
    dirs = ["/usr/local/cuda/bin"]
    for sp in sys.path + [site.getusersitepackages()] + glob.glob(os.path.expanduser("~/.local/lib/python3*/site-packages")):
        dirs += sorted(glob.glob(os.path.join(sp, "nvidia", "cu*", "bin")))
    for d in dirs:
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return None


def build_ptxas(build):
    """The ptxas beside the nvcc the build was configured with (its CMakeCache.txt)."""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            nvcc = re.search(r"^CMAKE_CUDA_COMPILER:\w+=(.+)$", f.read(), re.M)
    except OSError:
        return None
    ptxas = os.path.join(os.path.dirname(nvcc.group(1)), "ptxas") if nvcc else ""
    return ptxas if os.access(ptxas, os.X_OK) else None


def short_name(mangled, demangled):
    """'chunked_output_kernel<Fp16, shared>' from the demangled signature."""
    text = demangled.removeprefix("void ")
    for prefix in ("dfw::", "(anonymous namespace)::"):
        text = text.replace(prefix, "")
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "(" and depth == 0:
            text = text[:i]
            break
    text = re.sub(r"\(RuleKind\)(\d)", lambda m: RULES[int(m.group(1))], text)
    if re.match(r"chunked_(state|output)_kernel<", text):  # <T, every array in shared memory>
        text = re.sub(r", (true|false)>$", lambda m: f", {'shared' if m.group(1) == 'true' else 'spill'}>", text)
    return text if text else mangled


def demangle(names):
    filt = shutil.which("c++filt")
    if not filt or not names:
        return dict(zip(names, names))
    out = subprocess.run([filt], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    return {m: short_name(m, d) for m, d in zip(names, out.splitlines())}


def parse_res_usage(text):
    """{mangled: {regs, stack, shared}} from cuobjdump -res-usage."""
    out, current = {}, None
    for line in text.splitlines():
        m = re.match(r"\s*Function (\S+):", line)
        if m:
            current = m.group(1)
            continue
        m = re.search(r"REG:(\d+) STACK:(\d+) SHARED:(\d+)", line)
        if m and current:
            out[current] = {"regs": int(m.group(1)), "stack": int(m.group(2)), "shared": int(m.group(3))}
            current = None
    return out


def parse_sass(text):
    """{mangled: {column: count}} of the instruction classes in COUNTS."""
    out, current = {}, None
    for line in text.splitlines():
        m = re.match(r"\s*Function : (\S+)", line)
        if m:
            current = out.setdefault(m.group(1), {c: 0 for c in set(COUNTS.values()) | {"ldg_128"}})
            continue
        m = INSTRUCTION.search(line)
        if m and current is not None:
            op, *modifiers = m.group(1).split(".")
            if op in COUNTS:
                current[COUNTS[op]] += 1
            if op == "LDG" and "128" in modifiers:
                current["ldg_128"] += 1
    return out


def parse_ptxas(text):
    """{mangled: {spill_store, spill_load, regs}} from ptxas -v."""
    out, current = {}, None
    for line in text.splitlines():
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            current = out.setdefault(m.group(1), {})
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and current is not None:
            current["spill_store"], current["spill_load"] = int(m.group(1)), int(m.group(2))
        m = re.search(r"Used (\d+) registers", line)
        if m and current is not None:
            current["regs"] = int(m.group(1))
    return out


def ptxas_of(cuobjdump, ptxas, obj):
    """ptxas -v over the PTX embedded in obj, with the options it was built with."""
    dump = subprocess.run([cuobjdump, "-ptx", obj], capture_output=True, text=True, check=True).stdout
    options = re.search(r"ptxasOptions = (.*)", dump)
    arch = re.search(r"^\.target (sm_\d+)", dump, re.M)
    ptx = dump[dump.index(".version"):]
    ptx = ptx[:ptx.index("\nFatbin")] if "\nFatbin" in ptx else ptx
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "k.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        cmd = [ptxas, "-v", f"-arch={arch.group(1) if arch else 'sm_90'}", path, "-o", os.path.join(tmp, "k.cubin")]
        cmd += options.group(1).split() if options else []
        run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return parse_ptxas(run.stdout + run.stderr)


def occupancy(regs, smem_per_block, threads):
    """(blocks, warps, limiter) resident per SM on sm_90."""
    warps = -(-threads // 32)
    regs_per_warp = -(-regs * 32 // REG_ALLOC_PER_WARP) * REG_ALLOC_PER_WARP
    limits = {"warps": WARPS_PER_SM // warps, "blocks": BLOCKS_PER_SM,
              "registers": REGS_PER_SM // (regs_per_warp * warps) if regs else BLOCKS_PER_SM,
              "shared": SMEM_PER_SM // (-(-smem_per_block // SMEM_ALLOC) * SMEM_ALLOC)}
    blocks = min(limits.values())
    return blocks, blocks * warps, "+".join(k for k, v in limits.items() if v == blocks)


def launched_per_sm(grid, shapes):
    """'min-max' blocks launched per SM (grid / 132) over the preset's shapes."""
    per_sm = [grid(B, H, T) / SMS for B, H, T in shapes]
    lo, hi = min(per_sm), max(per_sm)
    return f"{lo:.2f}" if lo == hi else f"{lo:.2f}-{hi:.2f}"


def analyse(build, cuobjdump, ptxas):
    objects = sorted(glob.glob(os.path.join(build, "kernels", "CMakeFiles", "dfw_kernels.dir", "*.cu.o")))
    if not objects:
        return None
    version = re.search(r"release (\S+),", subprocess.run([ptxas, "--version"], capture_output=True,
                                                         text=True).stdout)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        spills = dict(zip(objects, pool.map(lambda o: ptxas_of(cuobjdump, ptxas, o), objects)))
    rows = []
    for obj in objects:
        res = parse_res_usage(subprocess.run([cuobjdump, "-res-usage", obj], capture_output=True, text=True,
                                             check=True).stdout)
        sass = parse_sass(subprocess.run([cuobjdump, "-sass", obj], capture_output=True, text=True,
                                         check=True).stdout)
        names = demangle(sorted(res))
        for mangled in sorted(res, key=lambda k: names[k]):
            r, s, p = res[mangled], sass.get(mangled, {}), spills[obj].get(mangled, {})
            if p.get("regs") != r["regs"]:
                raise RuntimeError(f"{names[mangled]}: ptxas -v on the embedded PTX gives {p.get('regs')} "
                                   f"registers, the cubin {r['regs']}: the spill figures would not be this build's")
            name = names[mangled]
            family = name.split("<")[0]
            if family not in LAUNCH:
                raise RuntimeError(f"{name}: its launch (threads, dynamic shared memory, grid) is not in LAUNCH "
                                   "of scripts/sass_check.py; add it from the host launch code")
            threads, dyn, grid = LAUNCH[family]
            targs = name[name.find("<") + 1:-1].split(", ") if "<" in name else []
            last = targs[-1] if targs else ""
            dyn_bytes = dyn(ELEM.get(targs[0] if targs else "", 4),
                            int(last) if last.isdigit() else {"shared": 1, "spill": 0}.get(last, 0))
            static = max(r["shared"] - SMEM_RESERVED_PER_BLOCK, 0)
            blocks, warps, limiter = occupancy(r["regs"], static + dyn_bytes + SMEM_RESERVED_PER_BLOCK, threads)
            if dyn_bytes > MAX_DYN_SMEM_PER_BLOCK:
                blocks, warps, limiter = 0, 0, "dynamic shared memory above 227 KiB"
            row = {"kernel": name, "object": os.path.basename(obj).removesuffix(".o"), "regs": r["regs"],
                   "stack_bytes": r["stack"], "spill_store_bytes": p["spill_store"],
                   "spill_load_bytes": p["spill_load"], "static_smem_bytes": static, "threads": threads,
                   "dyn_smem_bytes": dyn_bytes, "blocks_per_sm": blocks, "warps_per_sm": warps, "limiter": limiter,
                   "ptxas": version.group(1) if version else "?"}
            row.update({c: s.get(c, 0) for c in set(COUNTS.values()) | {"ldg_128"}})
            for preset, shapes in (("paper_prefill", PAPER_PREFILL), ("scaling", SCALING)):
                used = grid and PRESET_USES[preset].search(name)
                row[f"{preset}_blocks_per_sm"] = launched_per_sm(grid, shapes) if used else ""
            rows.append(row)
    return rows


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path, rows):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    os.replace(path + ".tmp", path)


def regressions(baseline, fresh):
    """(failures, notes): the kernels of fresh that got worse than in baseline."""
    failures, notes = [], []
    old = {r["kernel"]: r for r in baseline}
    new = {r["kernel"]: r for r in fresh}
    for name in sorted(set(old) - set(new)):
        notes.append(f"{name}: in the baseline, not in this build")
    for name in sorted(new):
        if name not in old:
            notes.append(f"{name}: new, not in the baseline")
            continue
        b, n = old[name], new[name]
        i = lambda row, col: int(row[col])
        spill_b = i(b, "spill_store_bytes") + i(b, "spill_load_bytes")
        spill_n = i(n, "spill_store_bytes") + i(n, "spill_load_bytes")
        if spill_n > spill_b:
            failures.append(f"{name}: spills grew from {spill_b} to {spill_n} bytes (stores + loads)")
        generic_b, generic_n = i(b, "generic_ld") + i(b, "generic_st"), i(n, "generic_ld") + i(n, "generic_st")
        if generic_n > generic_b:
            failures.append(f"{name}: generic LD/ST grew from {generic_b} to {generic_n}")
        if int(b.get("ldg_128") or 0) > 0 and int(n.get("ldg_128") or 0) == 0:
            failures.append(f"{name}: its {b['ldg_128']} 16-byte global loads (LDG.128) disappeared")
        if i(b, "hmma") > 0 and i(n, "hmma") == 0:
            failures.append(f"{name}: its {i(b, 'hmma')} tensor-core instructions disappeared")
        if i(n, "warps_per_sm") < i(b, "warps_per_sm"):
            failures.append(f"{name}: resident warps per SM dropped from {b['warps_per_sm']} to {n['warps_per_sm']} "
                            f"(limited by {n['limiter']})")
    if baseline and fresh and baseline[0]["ptxas"] != fresh[0]["ptxas"]:
        notes.append(f"baseline from ptxas {baseline[0]['ptxas']}, this build {fresh[0]['ptxas']}: counts may differ "
                     "with the compiler alone")
    return failures, notes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"), help="the nvcc build directory")
    parser.add_argument("--out", default=None, help=f"CSV to write (default {BASELINE}; with --check, none)")
    parser.add_argument("--check", action="store_true", help=f"compare with the baseline {BASELINE}, exit 1 on "
                        "a regression")
    parser.add_argument("--baseline", default=BASELINE, help="the baseline --check reads")
    args = parser.parse_args()
    cuobjdump, ptxas = find_tool("cuobjdump"), build_ptxas(args.build) or find_tool("ptxas")
    if not cuobjdump:
        print("sass_check: skipped: cuobjdump not installed (pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm)")
        return SKIP
    if not ptxas:
        print("sass_check: skipped: ptxas not found (CUDA toolkit)")
        return SKIP
    nvdisasm = find_tool("nvdisasm")
    if nvdisasm:  # newer cuobjdump runs nvdisasm for -sass, looked up on PATH
        os.environ["PATH"] = os.path.dirname(nvdisasm) + os.pathsep + os.environ.get("PATH", "")
    try:
        rows = analyse(args.build, cuobjdump, ptxas)
    except subprocess.CalledProcessError as e:
        if "nvdisasm" in (e.stderr or ""):
            print("sass_check: skipped: this cuobjdump needs nvdisasm (pip install nvidia-cuda-nvdisasm)")
            return SKIP
        print(f"sass_check: error: {e}: {(e.stderr or '').strip()}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"sass_check: error: {e}", file=sys.stderr)
        return 2
    if rows is None:
        print(f"sass_check: skipped: no nvcc-built kernel objects in {args.build} (configure with nvcc present)")
        return SKIP
    out = args.out or (None if args.check else BASELINE)
    if out:
        write_csv(out, rows)
        print(f"sass_check: {len(rows)} kernels -> {out}")
    if not args.check:
        return 0
    failures, notes = regressions(read_csv(args.baseline), rows)
    for n in notes:
        print(f"sass_check: note: {n}")
    for f in failures:
        print(f"sass_check: REGRESSION: {f}", file=sys.stderr)
    print(f"sass_check: {len(rows)} kernels against {args.baseline}: "
          f"{'FAIL' if failures else 'PASS'} ({len(failures)} regressions)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
