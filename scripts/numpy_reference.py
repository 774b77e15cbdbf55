#!/usr/bin/python3
"""Checks `dfwbench eval` against an independent numpy implementation of docs/MATH.md.

For every preset (softmax linear performer t2r gated delta fwp dfw) this script
draws inputs with numpy, saves them as .npy (some float32, some float64 holding
float32 values), runs `dfwbench eval --variant V --form F --in DIR --out DIR`
for each form, and compares y, state (and z for normalised variants) with the
definitions of docs/MATH.md below, computed token by token in float64 on the
same float32-rounded inputs. Pass: relative L2 <= 1e-4 (the fp32 limit of
docs/MATH.md) and no NaN/Inf. Exit 0 when every comparison passes, 1 otherwise.

Usage: /usr/bin/python3 scripts/numpy_reference.py --dfwbench build/dfwbench
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

LIMIT = 1e-4  # docs/MATH.md: fp32 relative L2
NORM_EPS = 1e-6
B, H, T, DK, DV = 2, 3, 37, 16, 12  # d != m, T not a multiple of any chunk
M_PARAM = 24  # feature width of relu_proj / favor (given by the parameters' shape)


# ---- feature maps (docs/MATH.md "Feature maps"); x: (..., dk) -> (..., m) -----
def phi_identity(x, params):
    return x


def phi_elu1(x, params):
    return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))


def phi_relu_proj(x, params):
    w, b = params["w"], params["b"]  # (m, dk), (m)
    return np.maximum(x @ w.T + b, 0.0)


def phi_favor(x, params):
    omega = params["omega"]  # (m, dk)
    m, dk = omega.shape
    xs = x / dk ** 0.25
    return np.exp(xs @ omega.T - 0.5 * np.sum(xs * xs, axis=-1, keepdims=True)) / np.sqrt(m)


def phi_dpfp(x, params, nu=1):
    r = np.concatenate([np.maximum(x, 0.0), np.maximum(-x, 0.0)], axis=-1)  # (..., 2dk)
    return np.concatenate([r * np.roll(r, j, axis=-1) for j in range(1, nu + 1)], axis=-1)


def sum_normalise(f):
    s = f.sum(axis=-1, keepdims=True)
    return np.where(s > 0, f / np.where(s > 0, s, 1.0), f)


# ---- one (b, h) sequence per rule (docs/MATH.md "Update rules") ----------------
def softmax_head(q, k, v):
    s = q @ k.T / np.sqrt(q.shape[-1])  # (T, T)
    s = np.where(np.tril(np.ones_like(s, dtype=bool)), s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return (p / p.sum(axis=-1, keepdims=True)) @ v, None, None


def recurrent_head(rule, fq, fk, v, gates, normalise):
    """fq, fk: (T, m); v: (T, dv). Returns y (T, dv), S (dv, m), z (m) or None."""
    t_len, m = fk.shape
    dv = v.shape[1]
    S = np.zeros((dv, m))
    z = np.zeros(m)
    y = np.zeros((t_len, dv))
    for t in range(t_len):
        outer = np.outer(v[t], fk[t])
        if rule == "add":
            S = S + outer
            z = z + fk[t]
        elif rule == "gated":
            g = gates["gate"][t]
            S = g * S + (1 - g) * outer
            z = g * z + (1 - g) * fk[t]
        elif rule == "delta":
            beta = gates["beta"][t]
            S = S + beta * np.outer(v[t] - S @ fk[t], fk[t])
        elif rule == "decay":
            S = np.outer(gates["gate_v"][t], gates["gate_k"][t]) * S + outer
        else:
            raise ValueError(rule)
        y[t] = S @ fq[t]
        if normalise:
            y[t] /= z @ fq[t] + NORM_EPS
    return y, S, (z if normalise else None)


# name: (rule, feature map, normalise, sum-normalise)
PRESETS = {
    "softmax": ("softmax", None, False, False),
    "linear": ("add", phi_elu1, True, False),
    "performer": ("add", phi_favor, True, False),
    "t2r": ("add", phi_relu_proj, True, False),
    "gated": ("gated", phi_relu_proj, True, False),
    "delta": ("delta", phi_identity, False, False),
    "fwp": ("delta", phi_dpfp, False, True),
    "dfw": ("decay", phi_identity, False, False),
}


def f32(x):
    """Rounds to float32 (what eval reads) and back to float64 for the reference."""
    return x.astype(np.float32).astype(np.float64)


def make_inputs(name, rng):
    rule, phi, _, _ = PRESETS[name]
    x = {
        "q": rng.standard_normal((B, H, T, DK)),
        "k": rng.standard_normal((B, H, T, DK)),
        "v": rng.standard_normal((B, H, T, DV)),
    }
    if rule == "delta" and phi is phi_identity:  # docs/MATH.md: identity delta needs |k| <= 1
        x["k"] /= np.linalg.norm(x["k"], axis=-1, keepdims=True)
    if phi is phi_relu_proj:
        x["w"] = rng.standard_normal((H, M_PARAM, DK)) / np.sqrt(DK)
        x["b"] = 0.1 * rng.standard_normal((H, M_PARAM))
    if phi is phi_favor:
        x["omega"] = rng.standard_normal((H, M_PARAM, DK))
    if rule == "gated":
        x["gate"] = rng.uniform(0.05, 1.0, (B, H, T))
    if rule == "delta":
        x["beta"] = rng.uniform(0.05, 1.0, (B, H, T))
    if rule == "decay":
        x["gate_v"] = rng.uniform(0.05, 1.0, (B, H, T, DV))
        x["gate_k"] = rng.uniform(0.05, 1.0, (B, H, T, DK))
    return {key: f32(val) for key, val in x.items()}


def reference(name, x):
    rule, phi, normalise, sum_norm = PRESETS[name]
    ys, states, zs = [], [], []
    for b in range(B):
        for h in range(H):
            q, k, v = x["q"][b, h], x["k"][b, h], x["v"][b, h]
            if rule == "softmax":
                y, _, _ = softmax_head(q, k, v)
                ys.append(y)
                continue
            params = {p: x[p][h] for p in ("w", "b", "omega") if p in x}
            fq, fk = phi(q, params), phi(k, params)
            if sum_norm:
                fq, fk = sum_normalise(fq), sum_normalise(fk)
            gates = {g: x[g][b, h] for g in ("gate", "beta", "gate_v", "gate_k") if g in x}
            y, S, z = recurrent_head(rule, fq, fk, v, gates, normalise)
            ys.append(y)
            states.append(S)
            zs.append(z)
    out = {"y": np.array(ys).reshape(B, H, T, DV)}
    if rule != "softmax":
        out["state"] = np.array(states).reshape(B, H, DV, -1)
    if normalise:
        out["z"] = np.array(zs).reshape(B, H, -1)
    return out


def rel_l2(x, ref):
    if not np.all(np.isfinite(x)):
        return float("inf")
    den = np.linalg.norm(ref)
    return float(np.linalg.norm(x - ref) / (den if den > 0 else 1.0))


def save_inputs(x, directory):
    for i, (key, val) in enumerate(sorted(x.items())):
        # Alternate float32 and float64 files: eval reads both (float64 rounded to float32,
        # which is exact here since the values are float32 already).
        np.save(os.path.join(directory, key + ".npy"), val.astype(np.float32 if i % 2 == 0 else np.float64))


class Unsupported(Exception):
    """eval reports the form does not implement the variant (e.g. chunked delta)."""


def run_eval(dfwbench, name, form, in_dir, out_dir):
    cmd = [dfwbench, "eval", "--variant", name, "--form", form, "--in", in_dir, "--out", out_dir]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode == 2 and "does not support" in r.stderr:
        raise Unsupported(r.stderr.strip().split("error: ", 1)[-1])
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dfwbench", required=True, help="path to the dfwbench binary")
    ap.add_argument("--seed", type=int, default=2022)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    failures = 0
    print(f"shape B={B} H={H} T={T} dk={DK} dv={DV}; limit relative L2 {LIMIT:g}")
    print(f"{'variant':10} {'form':9} {'relL2(y)':>10} {'relL2(S)':>10} {'relL2(z)':>10}  status")
    for name in PRESETS:
        x = make_inputs(name, rng)
        ref = reference(name, x)
        forms = ["blocked"] if name == "softmax" else ["recurrent", "chunked"]
        with tempfile.TemporaryDirectory(prefix="dfw_numpy_ref_") as tmp:
            in_dir, out_dir = os.path.join(tmp, "in"), os.path.join(tmp, "out")
            os.mkdir(in_dir)
            os.mkdir(out_dir)
            save_inputs(x, in_dir)
            for form in forms:
                errs = {}
                try:
                    run_eval(args.dfwbench, name, form, in_dir, out_dir)
                    for key, val in ref.items():
                        got = np.load(os.path.join(out_dir, key + ".npy"))
                        if got.shape != val.shape:
                            raise RuntimeError(f"{key}.npy has shape {got.shape}, expected {val.shape}")
                        errs[key] = rel_l2(got, val)
                    ok = all(e <= LIMIT for e in errs.values())
                    status, note = ("PASS" if ok else "FAIL"), ""
                except Unsupported as e:
                    ok, status, note = True, "UNSUPPORTED", str(e)
                except (RuntimeError, OSError, ValueError) as e:
                    ok, status, note = False, "FAIL", str(e)
                failures += not ok
                cols = " ".join(f"{errs[k]:10.2e}" if k in errs else f"{'-':>10}" for k in ("y", "state", "z"))
                print(f"{name:10} {form:9} {cols}  {status} {note}".rstrip())
    print(f"numpy_reference: {'all agree' if failures == 0 else f'{failures} FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
