#!/usr/bin/env python3
"""cu_to_cpp: rewrites a .cu file as C++ for the emulated CUDA device (kernels/emu).

Two rewrites, each kept on its own lines so that `#line` maps every diagnostic
and every barrier's recorded location back to the .cu:
  KERNEL<<<grid, block[, shared[, stream]]>>>(args)
      -> ::emu::launch("KERNEL", __FILE__, __LINE__, KERNEL, ::emu::LaunchConfig(grid, block, ...), args)
  extern __shared__ [__align__(N)] TYPE NAME[];
      -> TYPE* NAME = reinterpret_cast<TYPE*>(::emu::dynamic_shared());
A static (non-extern) __shared__ array is refused: it would silently become per-thread.
Usage: cu_to_cpp.py IN.cu OUT.cpp
"""
import re
import sys

EXTERN_SHARED = re.compile(
    r"extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s*)?([A-Za-z_][\w:<>, ]*?)\s*"
    r"(?:__align__\s*\(\s*\d+\s*\)\s*)?\b([A-Za-z_]\w*)\s*\[\s*\]\s*;")
STATIC_SHARED = re.compile(r"(?<!extern )\b__shared__\b")
IDENT = re.compile(r"[\w:]")


def kernel_start(src, end):
    """Start of the kernel expression that ends at src[end] (a template-id or a name)."""
    i = end
    while i > 0 and src[i - 1].isspace():
        i -= 1
    if src[i - 1] == ">":
        depth = 0
        while i > 0:
            i -= 1
            depth += {">": 1, "<": -1}.get(src[i], 0)
            if depth == 0:
                break
    while i > 0 and IDENT.match(src[i - 1]):
        i -= 1
    return i


def matching_paren(src, open_at):
    depth = 0
    for j in range(open_at, len(src)):
        depth += {"(": 1, ")": -1}.get(src[j], 0)
        if depth == 0:
            return j
    raise SystemExit(f"cu_to_cpp: unbalanced parentheses after a launch at offset {open_at}")


def rewrite_launches(src):
    out, pos = [], 0
    while (at := src.find("<<<", pos)) >= 0:
        start = kernel_start(src, at)
        cfg_end = src.index(">>>", at)
        open_at = cfg_end + 3
        while src[open_at].isspace():
            open_at += 1
        if src[open_at] != "(":
            raise SystemExit("cu_to_cpp: a launch without an argument list")
        close = matching_paren(src, open_at)
        kernel = src[start:at].strip()
        args = src[open_at + 1:close]
        name = " ".join(kernel.split()).replace('"', '\\"')
        call = (f'::emu::launch("{name}", __FILE__, __LINE__, {kernel}, '
                f"::emu::LaunchConfig({src[at + 3:cfg_end]})" + (f", {args})" if args.strip() else ")"))
        out.append(src[pos:start])
        out.append(call)
        pos = close + 1
    out.append(src[pos:])
    return "".join(out)


def rewrite_shared(src):
    src = EXTERN_SHARED.sub(
        lambda m: f"{m.group(1).strip()}* {m.group(2)} = reinterpret_cast<{m.group(1).strip()}*>(::emu::dynamic_shared());",
        src)
    for line_no, line in enumerate(src.splitlines(), 1):
        code = line.split("//")[0]
        if STATIC_SHARED.search(code):
            raise SystemExit(f"cu_to_cpp: line {line_no}: static __shared__ arrays are not emulated")
    return src


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    cu, cpp = sys.argv[1], sys.argv[2]
    with open(cu, encoding="utf-8") as f:
        src = f.read()
    body = rewrite_shared(rewrite_launches(src))
    with open(cpp, "w", encoding="utf-8") as f:
        f.write(f'// Generated from {cu} by kernels/emu/cu_to_cpp.py for the emulated CUDA device.\n')
        f.write('#include "emu_cuda.hpp"\n')
        f.write(f'#line 1 "{cu}"\n')
        f.write(body)


if __name__ == "__main__":
    main()
