#!/usr/bin/python3
"""Checks `dfwbench eval` against an independent numpy implementation of docs/MATH.md.

The variants: every preset `dfwbench list --json` names, and for every rule it lists
that no preset uses, the spec rule=R,phi=elu1 (a rule or feature map listed there
that this script does not implement fails the run at once). For each variant this
script draws inputs with numpy, saves them as .npy (some float32, some float64
holding float32 values), runs `dfwbench eval --variant V --form F [--chunk C]` and
compares y, state (and z for normalised variants) with the definitions of
docs/MATH.md below, computed token by token in float64 on the same float32-rounded
inputs. The cases, at T = 150 (three 64-token softmax tiles, several chunks of
every chunk length):
  - every form: recurrent, chunked at chunk lengths 1, 5, 16 and 64, decode (the
    decode form token by token); softmax: blocked and decode;
  - from a zero state and from a given initial state s0;
  - the decode step (eval --mode decode_step): one token (T = 1) from s0; softmax,
    the 150th token against a KV cache of the first 149;
  - the slow gate sets U(0.95, 1) and U(0.99, 1) for the rules with decaying gates,
    whose carried state matters across many chunks.
Gradients (eval with dy.npy writes dq.npy, ...), at B=2 H=2 T=6 with s0: the float64
reference, the CPU backward form (recurrent; softmax blocked) and, for the
gated-linear rules, the chunked backward at C = 4, against numpy central differences.
Pass: relative L2 <= 1e-4 (the fp32 limit of docs/MATH.md) and max-abs <= 1e-3
(10x) for y, state and z, no NaN/Inf. A form reporting "does not support" passes
only for the combinations in EXPECTED_UNSUPPORTED (and is listed as such); any
other refusal fails. Exit 0 when every comparison passes, 1 otherwise.

Usage: /usr/bin/python3 scripts/numpy_reference.py --dfwbench build/dfwbench
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

import json

LIMIT = 1e-4  # docs/MATH.md: fp32 relative L2
MAX_ABS_LIMIT = 10 * LIMIT
NORM_EPS = 1e-6
B, H, T, DK, DV = 2, 3, 150, 16, 12  # d != m, T not a multiple of any chunk
CHUNKS = (1, 5, 16, 64)
SLOW_GATES = ((0.95, 1.0), (0.99, 1.0))
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


def recurrent_head(rule, fq, fk, v, gates, normalise, s0=None):
    """fq, fk: (T, m); v: (T, dv); s0: (dv, m) or None (zero). Returns y (T, dv),
    S (dv, m), z (m) or None."""
    t_len, m = fk.shape
    dv = v.shape[1]
    S = np.zeros((dv, m)) if s0 is None else s0.copy()
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
        elif rule == "scalar_decay":
            S = gates["gate"][t] * S + outer
            z = gates["gate"][t] * z + fk[t]
        else:
            raise ValueError(f"no numpy update for rule {rule}")
        y[t] = S @ fq[t]
        if normalise:
            y[t] /= z @ fq[t] + NORM_EPS
    return y, S, (z if normalise else None)


MAPS = {"identity": phi_identity, "elu1": phi_elu1, "relu_proj": phi_relu_proj, "favor": phi_favor,
        "dpfp": phi_dpfp}
RULES = ("softmax", "add", "gated", "delta", "decay", "scalar_decay")
GATES = {"gated": ("gate",), "scalar_decay": ("gate",), "delta": ("beta",), "decay": ("gate_v", "gate_k")}
DECAYING = ("gated", "decay", "scalar_decay")  # rules whose gates shrink the carried state
# (rule, form) pairs eval refuses by design: the delta rule is not gated-linear
# (docs/MATH.md), so it has no chunked form.
EXPECTED_UNSUPPORTED = {("delta", "chunked")}


class Variant:
    """A preset or spec string as docs/MATH.md defines it: rule, feature map, norm."""

    def __init__(self, name, spec):
        fields = dict(item.split("=", 1) for item in spec.split(",") if "=" in item)
        self.name, self.rule = name, fields["rule"]
        self.phi_name = fields.get("phi", "identity")
        self.normalise = fields.get("norm") == "on"
        self.nu = int(fields.get("nu", 1))
        if self.rule not in RULES:
            raise ValueError(f"dfwbench lists rule '{self.rule}' ({name}), which this script does not implement")
        if self.rule != "softmax" and self.phi_name not in MAPS:
            raise ValueError(f"{name}: feature map '{self.phi_name}' is not implemented here")
        # docs/MATH.md: the delta rule needs bounded keys; any map but identity is sum-normalised
        self.sum_norm = self.rule == "delta" and self.phi_name != "identity"

    def phi(self, x, params):
        if self.phi_name == "dpfp":
            return phi_dpfp(x, params, self.nu)
        return MAPS[self.phi_name](x, params)


def f32(x):
    """Rounds to float32 (what eval reads) and back to float64 for the reference."""
    return x.astype(np.float32).astype(np.float64)


def make_inputs(var, rng, t_len=T, gate_range=(0.05, 1.0), with_s0=False, sizes=(B, H, DK, DV, M_PARAM)):
    B, H, DK, DV, M_PARAM = sizes
    x = {
        "q": rng.standard_normal((B, H, t_len, DK)),
        "k": rng.standard_normal((B, H, t_len, DK)),
        "v": rng.standard_normal((B, H, t_len, DV)),
    }
    if var.rule == "delta" and var.phi_name == "identity":  # docs/MATH.md: identity delta needs |k| <= 1
        x["k"] /= np.linalg.norm(x["k"], axis=-1, keepdims=True)
    m = DK
    if var.phi_name == "relu_proj":
        m = M_PARAM
        x["w"] = rng.standard_normal((H, M_PARAM, DK)) / np.sqrt(DK)
        x["b"] = 0.1 * rng.standard_normal((H, M_PARAM))
    if var.phi_name == "favor":
        m = M_PARAM
        x["omega"] = rng.standard_normal((H, M_PARAM, DK))
    if var.phi_name == "dpfp":
        m = 2 * DK * var.nu
    for g in GATES.get(var.rule, ()):
        width = {"gate_v": (DV,), "gate_k": (m,)}.get(g, ())
        x[g] = rng.uniform(*gate_range, (B, H, t_len) + width)
    if with_s0 and var.rule != "softmax":
        x["s0"] = 0.3 * rng.standard_normal((B, H, DV, m))
    return {key: f32(val) for key, val in x.items()}


def reference(var, x):
    B, H, t_len = x["q"].shape[:3]
    DV = x["v"].shape[3]
    ys, states, zs = [], [], []
    for b in range(B):
        for h in range(H):
            q, k, v = x["q"][b, h], x["k"][b, h], x["v"][b, h]
            if var.rule == "softmax":
                y, _, _ = softmax_head(q, k, v)
                ys.append(y)
                continue
            params = {p: x[p][h] for p in ("w", "b", "omega") if p in x}
            fq, fk = var.phi(q, params), var.phi(k, params)
            if var.sum_norm:
                fq, fk = sum_normalise(fq), sum_normalise(fk)
            gates = {g: x[g][b, h] for g in ("gate", "beta", "gate_v", "gate_k") if g in x}
            s0 = x["s0"][b, h] if "s0" in x else None
            y, S, z = recurrent_head(var.rule, fq, fk, v, gates, var.normalise, s0)
            ys.append(y)
            states.append(S)
            zs.append(z)
    out = {"y": np.array(ys).reshape(B, H, t_len, DV)}
    if var.rule != "softmax":
        out["state"] = np.array(states).reshape(B, H, DV, -1)
    if var.normalise:
        out["z"] = np.array(zs).reshape(B, H, -1)
    return out


def errors(x, ref):
    """(relative L2, max |x - ref| / max |ref|) in docs/MATH.md's sense; inf for NaN/Inf."""
    if not np.all(np.isfinite(x)):
        return float("inf"), float("inf")
    den, peak = np.linalg.norm(ref), np.max(np.abs(ref)) if ref.size else 0.0
    diff = np.abs(x - ref)
    return (float(np.linalg.norm(x - ref) / (den if den > 0 else 1.0)),
            float((diff.max() if diff.size else 0.0) / (peak if peak > 0 else 1.0)))


def save_inputs(x, directory):
    for name in os.listdir(directory):
        os.remove(os.path.join(directory, name))
    for i, (key, val) in enumerate(sorted(x.items())):
        # Alternate float32 and float64 files: eval reads both (float64 rounded to float32,
        # which is exact here since the values are float32 already).
        np.save(os.path.join(directory, key + ".npy"), val.astype(np.float32 if i % 2 == 0 else np.float64))


class Unsupported(Exception):
    """eval reports the form does not implement the variant (e.g. chunked delta)."""


def run_eval(dfwbench, name, form, chunk, mode, in_dir, out_dir):
    cmd = [dfwbench, "eval", "--variant", name, "--form", form, "--mode", mode, "--in", in_dir, "--out", out_dir]
    if chunk:
        cmd += ["--chunk", str(chunk)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode == 2 and "does not support" in r.stderr:
        raise Unsupported(r.stderr.strip().split("error: ", 1)[-1])
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")


def listed(dfwbench):
    """dfwbench list --json: {"presets": {name: spec}, "rules": [...], ...}."""
    r = subprocess.run([dfwbench, "list", "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{dfwbench} list --json exited {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def variants_to_check(catalogue):
    """Every preset, then rule=R,phi=elu1 for each listed rule no preset uses."""
    out = [Variant(name, spec) for name, spec in catalogue["presets"].items()]
    for rule in catalogue["rules"]:
        if rule not in RULES:
            raise ValueError(f"dfwbench lists rule '{rule}', which this script does not implement")
        if not any(v.rule == rule for v in out):
            spec = f"rule={rule},phi=elu1"
            out.append(Variant(spec, spec))
    for phi in catalogue["feature_maps"]:
        if phi not in MAPS:
            raise ValueError(f"dfwbench lists feature map '{phi}', which this script does not implement")
    return out


def cases(var):
    """(label, input options, [(form, chunk)], eval --mode) of one variant."""
    if var.rule == "softmax":
        return [("T=150", {}, [("blocked", None), ("decode", None)], "sequence"),
                ("decode step", {}, [("decode", None)], "decode_step")]  # token 150 against a cache of 149
    forms = [("recurrent", None)] + [("chunked", c) for c in CHUNKS] + [("decode", None)]
    out = [("T=150", {}, forms, "sequence"), ("T=150 s0", {"with_s0": True}, forms, "sequence"),
           ("decode step", {"t_len": 1, "with_s0": True}, [("decode", None)], "decode_step")]
    if var.rule in DECAYING:
        out += [(f"slow U({lo},{hi})", {"gate_range": (lo, hi), "with_s0": True}, forms, "sequence")
                for lo, hi in SLOW_GATES]
    return out


GRAD_SIZES = (2, 2, 4, 3, 5)  # B, H, dk, dv, m of relu_proj / favor
GRAD_T = 6
GRAD_CHUNK = 4  # the chunked backward's chunk length here: two chunks, the second short
GATED_LINEAR = ("add", "gated", "decay", "scalar_decay")  # the rules with a chunked backward
GRAD_INPUTS = ("q", "k", "v", "gate", "beta", "gate_v", "gate_k", "w", "b", "s0")  # omega is fixed


def finite_difference_gradients(var, x, dy):
    """{input: dL/dinput} of L = sum(y * dy) by central differences of reference()."""
    def loss(xx):
        return float(np.sum(reference(var, xx)["y"] * dy))

    out = {}
    for name in GRAD_INPUTS:
        if name not in x:
            continue
        g = np.zeros_like(x[name])
        noise = np.zeros_like(x[name])
        flat, gflat, nflat = x[name].reshape(-1), g.reshape(-1), noise.reshape(-1)
        for i in range(flat.size):
            x0 = flat[i]
            h = 1e-5 * max(1.0, abs(x0))
            worst = 0.0

            def central(step):
                nonlocal worst
                flat[i] = x0 + step
                lp = loss(x)
                flat[i] = x0 - step
                lm = loss(x)
                flat[i] = x0
                worst = max(worst, abs(lp), abs(lm))
                return (lp - lm) / (2 * step)

            gflat[i] = (4 * central(h / 2) - central(h)) / 3
            nflat[i] = 3e-15 * worst / h
        out[name] = (g, noise)
    return out


def check_gradients(dfwbench, variants, rng, in_dir, out_dir):
    """Every variant's gradients from eval (reference, the CPU backward form, and the
    chunked one for the gated-linear rules) against finite_difference_gradients;
    returns (passes, failures)."""
    passes = failures = 0
    print(f"\ngradients: B={GRAD_SIZES[0]} H={GRAD_SIZES[1]} T={GRAD_T} dk={GRAD_SIZES[2]} dv={GRAD_SIZES[3]}, "
          "s0 and dy given; against numpy central differences")
    for var in variants:
        x = make_inputs(var, rng, t_len=GRAD_T, with_s0=True, sizes=GRAD_SIZES)
        dy = f32(rng.standard_normal(x["v"].shape))
        fd = finite_difference_gradients(var, x, dy)
        save_inputs(dict(x, dy=dy), in_dir)
        backward_form = "blocked" if var.rule == "softmax" else "recurrent"
        forms = [("reference", None, 1e-6), (backward_form, None, LIMIT)]
        if var.rule in GATED_LINEAR:
            forms.append(("chunked", GRAD_CHUNK, LIMIT))
        for form, chunk, limit in forms:
            worst, note = 0.0, ""
            try:
                run_eval(dfwbench, var.name, form, chunk, "sequence", in_dir, out_dir)
                ok = True
                for name, (want, noise) in fd.items():
                    got = np.load(os.path.join(out_dir, "d" + name + ".npy"))
                    if got.shape != want.shape:
                        raise RuntimeError(f"d{name}.npy has shape {got.shape}, expected {want.shape}")
                    err = float(np.linalg.norm(got - want))
                    bound = limit * float(np.linalg.norm(want)) + (float(np.linalg.norm(noise)) if form == "reference"
                                                                  else 0.0)
                    rel = err / max(float(np.linalg.norm(want)), 1e-300)
                    worst = max(worst, rel)
                    if not (np.all(np.isfinite(got)) and err <= bound):
                        ok, note = False, f"{note} d{name} rel {rel:.2e}".strip()
                status = "PASS" if ok else "FAIL"
            except (RuntimeError, OSError, ValueError, Unsupported) as e:
                ok, status, note = False, "FAIL", str(e)
            failures += not ok
            passes += ok
            label = f"{form} C={chunk}" if chunk else form
            print(f"{var.name:22} {'grad':18} {label:12} worst rel L2 {worst:9.2e} (limit {limit:g})  {status} "
                  f"{note}".rstrip())
    return passes, failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dfwbench", required=True, help="path to the dfwbench binary")
    ap.add_argument("--seed", type=int, default=2022)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    try:
        variants = variants_to_check(listed(args.dfwbench))
    except (RuntimeError, ValueError, KeyError) as e:
        print(f"numpy_reference: FAILED: {e}")
        return 1
    failures = passes = 0
    print(f"shape B={B} H={H} T={T} dk={DK} dv={DV}; limits relative L2 {LIMIT:g}, max-abs {MAX_ABS_LIMIT:g}")
    print(f"{'variant':22} {'case':18} {'form':12} {'relL2(y)':>9} {'relL2(S)':>9} {'relL2(z)':>9} "
          f"{'maxabs':>9}  status")
    with tempfile.TemporaryDirectory(prefix="dfw_numpy_ref_") as tmp:
        in_dir, out_dir = os.path.join(tmp, "in"), os.path.join(tmp, "out")
        os.mkdir(in_dir)
        os.mkdir(out_dir)
        for var in variants:
            for label, options, forms, mode in cases(var):
                x = make_inputs(var, rng, **options)
                ref = reference(var, x)
                if mode == "decode_step":
                    ref["y"] = ref["y"][:, :, -1:, :]  # the generated token's output only
                save_inputs(x, in_dir)
                for form, chunk in forms:
                    errs, worst_abs = {}, 0.0
                    try:
                        run_eval(args.dfwbench, var.name, form, chunk, mode, in_dir, out_dir)
                        for key, val in ref.items():
                            got = np.load(os.path.join(out_dir, key + ".npy"))
                            if got.shape != val.shape:
                                raise RuntimeError(f"{key}.npy has shape {got.shape}, expected {val.shape}")
                            errs[key], max_abs = errors(got, val)
                            worst_abs = max(worst_abs, max_abs)
                        ok = all(e <= LIMIT for e in errs.values()) and worst_abs <= MAX_ABS_LIMIT
                        status, note = ("PASS" if ok else "FAIL"), ""
                    except Unsupported as e:
                        expected = (var.rule, form) in EXPECTED_UNSUPPORTED
                        ok, status = expected, "UNSUPPORTED (expected)" if expected else "FAIL (unsupported)"
                        note = str(e)
                    except (RuntimeError, OSError, ValueError) as e:
                        ok, status, note = False, "FAIL", str(e)
                    failures += not ok
                    passes += status == "PASS"
                    cols = " ".join(f"{errs[k]:9.2e}" if k in errs else f"{'-':>9}" for k in ("y", "state", "z"))
                    name = form + (f" C={chunk}" if chunk else "")
                    print(f"{var.name:22} {label:18} {name:12} {cols} {worst_abs:9.2e}  {status} {note}".rstrip())
        grad_passes, grad_failures = check_gradients(args.dfwbench, variants, rng, in_dir, out_dir)
        passes += grad_passes
        failures += grad_failures
    print(f"numpy_reference: {passes} comparisons pass, "
          f"{'all agree' if failures == 0 else f'{failures} FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
