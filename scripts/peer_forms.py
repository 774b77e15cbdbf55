"""PyTorch forms of the variants, the peers that scripts/peers.py times beside dfwbench.

Each peer computes docs/MATH.md's function for one variant and mode in PyTorch, written
as a researcher would with stock operators (no custom kernels). Tensor layout as in
dfwbench: q, k (B, H, T, dk); v (B, H, T, dv); gates (B, H, T[, width]); states
(B, H, dv, m). fp32 on the CPU; on a GPU (peers.py --backend cuda, which places the
inputs and makes the peers under torch.device("cuda")) q, k, v in the row's dtype,
gates and states fp32 (the decode step casts the token's rows to the state's
dtype); peers_for() says which peers run where.

A peer is a class with prepare(x) (x: dict of torch tensors, the whole problem; the
allocation is not timed), run() (the timed work) and output() (y, for the accuracy
check). Decode peers take the last token of x as the new one: softmax appends it to a
KV cache of the T - 1 before it; stateful rules take one step from x["s0"].

The peers (name: what it is):
  torch_sdpa       softmax: torch.nn.functional.scaled_dot_product_attention (causal
                   prefill; decode: one query against the cache, after writing the new
                   k, v into a preallocated cache)
  torch_eager      softmax as GPT-2 computes it: w = q k^T / sqrt(d), causal mask by
                   torch.where against a precomputed lower-triangular bias, softmax, w v;
                   decode concatenates the new k, v to the past ones (GPT-2's layer_past)
  torch_step       stateful decode: one rule step on the (B, H, dv, m) state with
                   in-place broadcast products, then y = S q
  torch_recurrent  stateful prefill: torch_step in a Python loop over T
  torch_chunked    gated-linear prefill in matmul form over chunks of C tokens (the
                   dfwbench row's chunk): intra-chunk scores by batched matmuls, one scan
                   over chunks for the carried state. decay (dfw): key and value gates as
                   exp(+-cumulative log gates) factors about the chunk's middle token (the
                   GLA factorisation) where that cannot overflow float32; chunks whose gates
                   multiply below about e^-80 (1e-6 gates) are recomputed in sub-chunks of
                   16 with no positive exponent, as fla's chunk_gla; gated: scalar gates
                   through a (C, C) decay matrix exp(segment sums), stable.
"""
import math

import torch
import torch.nn.functional as F

NORM_EPS = 1e-6  # docs/MATH.md: y = S phi(q) / (z . phi(q) + eps)


def _phi(variant, x, prob):
    if variant["phi"] == "identity":
        return x
    if variant["phi"] == "relu_proj":  # w (H, m, dk), b (H, m)
        return torch.relu(torch.einsum("bhtd,hmd->bhtm", x, prob["w"]) + prob["b"][None, :, None, :])
    raise ValueError(f"no PyTorch peer for feature map {variant['phi']}")


class SoftmaxSdpaPrefill:
    def prepare(self, x):
        self.q, self.k, self.v = x["q"], x["k"], x["v"]

    def run(self):
        self.y = F.scaled_dot_product_attention(self.q, self.k, self.v, is_causal=True)

    def output(self):
        return self.y


class SoftmaxEagerPrefill:
    def prepare(self, x):
        self.q, self.k, self.v = x["q"], x["k"], x["v"]
        T = self.q.shape[2]
        self.bias = torch.tril(torch.ones(T, T, dtype=torch.bool))  # GPT-2's registered buffer
        self.masked = torch.tensor(torch.finfo(torch.float32).min)

    def run(self):
        w = torch.matmul(self.q, self.k.transpose(-1, -2)) / math.sqrt(self.q.shape[-1])  # (B, H, T, T)
        w = torch.where(self.bias, w, self.masked)
        self.y = torch.matmul(torch.softmax(w, dim=-1), self.v)

    def output(self):
        return self.y


class SoftmaxSdpaDecode:
    def prepare(self, x):
        T = x["q"].shape[2]
        self.T = T
        self.k_cache = x["k"].clone()  # (B, H, T, dk): T - 1 past tokens, then room for the new one
        self.v_cache = x["v"].clone()
        self.q_new, self.k_new, self.v_new = (x[n][:, :, T - 1:T].clone() for n in ("q", "k", "v"))

    def run(self):
        self.k_cache[:, :, self.T - 1:self.T] = self.k_new
        self.v_cache[:, :, self.T - 1:self.T] = self.v_new
        self.y = F.scaled_dot_product_attention(self.q_new, self.k_cache, self.v_cache)

    def output(self):
        return self.y


class SoftmaxEagerDecode:
    def prepare(self, x):
        T = x["q"].shape[2]
        self.past_k = x["k"][:, :, :T - 1].clone()  # GPT-2's layer_past
        self.past_v = x["v"][:, :, :T - 1].clone()
        self.q_new, self.k_new, self.v_new = (x[n][:, :, T - 1:T].clone() for n in ("q", "k", "v"))

    def run(self):
        k = torch.cat((self.past_k, self.k_new), dim=-2)
        v = torch.cat((self.past_v, self.v_new), dim=-2)
        w = torch.matmul(self.q_new, k.transpose(-1, -2)) / math.sqrt(self.q_new.shape[-1])
        self.y = torch.matmul(torch.softmax(w, dim=-1), v)

    def output(self):
        return self.y


class RuleStep:
    """One step of a stateful rule on S (B, H, dv, m); phi(q), phi(k) given per token."""

    def __init__(self, rule):
        if rule not in ("decay", "delta"):
            raise ValueError(f"no PyTorch step for rule {rule}")
        self.rule = rule

    def __call__(self, S, fq, fk, v, g):  # fq, fk (B, H, m); v (B, H, dv)
        if self.rule == "decay":
            S.mul_(g["gate_v"].unsqueeze(-1)).mul_(g["gate_k"].unsqueeze(-2))
            S.addcmul_(v.unsqueeze(-1), fk.unsqueeze(-2))
        else:  # delta: S += beta (v - S k) k^T
            u = (v - torch.matmul(S, fk.unsqueeze(-1)).squeeze(-1)) * g["beta"].unsqueeze(-1)
            S.addcmul_(u.unsqueeze(-1), fk.unsqueeze(-2))
        return torch.matmul(S, fq.unsqueeze(-1)).squeeze(-1)  # (B, H, dv)


GATE_INPUTS = {"decay": ("gate_v", "gate_k"), "delta": ("beta",), "gated": ("gate",)}


class StepDecode:
    def __init__(self, variant):
        self.variant, self.step = variant, RuleStep(variant["rule"])

    def prepare(self, x):
        T = x["q"].shape[2]
        self.S = x["s0"].clone()  # fp32, as dfwbench keeps the state; the token's rows cast to it
        self.fq = _phi(self.variant, x["q"][:, :, T - 1], x).to(self.S.dtype)
        self.fk = _phi(self.variant, x["k"][:, :, T - 1], x).to(self.S.dtype)
        self.v = x["v"][:, :, T - 1].to(self.S.dtype)
        self.g = {n: x[n][:, :, T - 1].clone() for n in GATE_INPUTS[self.variant["rule"]]}

    def run(self):
        self.y = self.step(self.S, self.fq, self.fk, self.v, self.g)

    def output(self):
        return self.y.unsqueeze(2)


class StepRecurrent:
    def __init__(self, variant):
        self.variant, self.step = variant, RuleStep(variant["rule"])

    def prepare(self, x):
        self.x = x
        self.S0 = x["s0"] if "s0" in x else None
        B, H, T, _ = x["q"].shape
        self.y = torch.empty(B, H, T, x["v"].shape[-1])

    def run(self):
        x = self.x
        fq, fk = _phi(self.variant, x["q"], x), _phi(self.variant, x["k"], x)
        B, H, T, m = fk.shape
        S = self.S0.clone() if self.S0 is not None else torch.zeros(B, H, x["v"].shape[-1], m)
        gates = GATE_INPUTS[self.variant["rule"]]
        for t in range(T):
            self.y[:, :, t] = self.step(S, fq[:, :, t], fk[:, :, t], x["v"][:, :, t], {n: x[n][:, :, t] for n in gates})

    def output(self):
        return self.y


def _chunks(t, C, fill=0.0):
    """(B, H, T, ...) -> (B, H, T / C, C, ...), padded with `fill` to whole chunks (gates
    with 1, so padded tokens neither decay nor add anything: their k and v are 0)."""
    B, H, T = t.shape[:3]
    pad = (-T) % C
    if pad:
        t = torch.cat((t, t.new_full((B, H, pad) + t.shape[3:], fill)), dim=2)
    return t.reshape((B, H, (T + pad) // C, C) + t.shape[3:])


def _decay_intra_factored(q, k, v, la, lb):
    """Intra-chunk y of (..., C, d) chunks with the key and value factors split about the
    chunk's middle token (the GLA factorisation: matmuls only). Overflows float32 once a
    log gate sum moves more than about 88 from the middle token's."""
    mid = q.shape[-2] // 2
    la_mid, lb_mid = la[..., mid:mid + 1, :], lb[..., mid:mid + 1, :]
    scores = torch.matmul(q * torch.exp(lb - lb_mid), (k * torch.exp(lb_mid - lb)).transpose(-1, -2)).tril_()
    return torch.exp(la - la_mid) * torch.matmul(scores, v * torch.exp(la_mid - la))


def _decay_intra_stable(q, k, v, la, lb, L):
    """The same in sub-chunks of L tokens, as fla's chunk_gla: between sub-chunks a > b the
    factors split about the last token r before sub-chunk a (exp(lb_t - lb_r) on q,
    exp(lb_r - lb_s) on k: both exponents <= 0) and the scores are matmuls; within a
    sub-chunk the (L, L) pairs take exp(l_t - l_s) directly. No exponent is positive."""
    lead, C = q.shape[:-2], q.shape[-2]
    ns = C // L
    sub = lambda t: t.reshape(lead + (ns, L, t.shape[-1]))  # (..., ns, L, d)
    qs, ks, vs, las, lbs = sub(q), sub(k), sub(v), sub(la), sub(lb)
    neg_inf = float("-inf")
    pair = torch.tril(torch.ones(L, L, dtype=torch.bool)).unsqueeze(-1)  # (L, L, 1)
    fk_pair = torch.exp((lbs.unsqueeze(-2) - lbs.unsqueeze(-3)).masked_fill(~pair, neg_inf))  # (..., L, L, m)
    fv_pair = torch.exp((las.unsqueeze(-2) - las.unsqueeze(-3)).masked_fill(~pair, neg_inf))  # (..., L, L, dv)
    scores = (qs.unsqueeze(-2) * ks.unsqueeze(-3) * fk_pair).sum(-1)  # (..., ns, L, L)
    y = (scores.unsqueeze(-1) * vs.unsqueeze(-3) * fv_pair).sum(-2)  # (..., ns, L, dv)
    if ns > 1:
        lb_r, la_r = lbs[..., :-1, -1:, :], las[..., :-1, -1:, :]  # (..., ns - 1, 1, d): a = 1 .. ns-1
        before = torch.tril(torch.ones(ns - 1, ns, dtype=torch.bool)).reshape(ns - 1, ns, 1, 1)
        qg = qs[..., 1:, :, :] * torch.exp(lbs[..., 1:, :, :] - lb_r)  # (..., ns - 1, L, m)
        kg = ks.unsqueeze(-4) * torch.exp((lb_r.unsqueeze(-3) - lbs.unsqueeze(-4)).masked_fill(~before, neg_inf))
        vg = vs.unsqueeze(-4) * torch.exp((la_r.unsqueeze(-3) - las.unsqueeze(-4)).masked_fill(~before, neg_inf))
        a = torch.matmul(qg.unsqueeze(-3), kg.transpose(-1, -2))  # (..., ns - 1, ns, L, L)
        y[..., 1:, :, :] += torch.exp(las[..., 1:, :, :] - la_r) * torch.matmul(a, vg).sum(-3)
    return y.reshape(lead + (C, -1))


class DecayChunked:
    """dfw (rule=decay, phi=identity): S_t = (a_t b_t^T) * S_{t-1} + v_t k_t^T, y_t = S_t q_t.

    Inside a chunk, with cumulative log gates la (value side) and lb (key side) from the
    chunk's start, token s reaches token t >= s with the factor exp(la_t - la_s) on the value
    side and exp(lb_t - lb_s) on the key side. Chunks whose log gates stay within 80 of the
    middle token's take the GLA factorisation about it (matmuls only); the others, where it
    would overflow float32 (gates of 1e-6), are recomputed in sub-chunks of 16 with no
    positive exponent (_decay_intra_stable), as a careful PyTorch user would."""

    SUB, SAFE_SPAN = 16, 80.0

    def __init__(self, chunk):
        self.C = chunk
        self.L = self.SUB if chunk % self.SUB == 0 else chunk

    def prepare(self, x):
        self.x = x

    def run(self):
        x, C = self.x, self.C
        T = x["q"].shape[2]
        q, k, v = _chunks(x["q"], C), _chunks(x["k"], C), _chunks(x["v"], C)  # (B, H, n, C, d)
        la = torch.cumsum(torch.log(_chunks(x["gate_v"], C, 1.0)), 3)  # (B, H, n, C, dv)
        lb = torch.cumsum(torch.log(_chunks(x["gate_k"], C, 1.0)), 3)  # (B, H, n, C, m)
        B, H, n = q.shape[:3]
        mid = C // 2
        span = torch.maximum((la - la[:, :, :, mid:mid + 1]).abs().amax((-1, -2)),
                             (lb - lb[:, :, :, mid:mid + 1]).abs().amax((-1, -2)))  # (B, H, n)
        unsafe = span > self.SAFE_SPAN
        y = _decay_intra_factored(q, k, v, la, lb)  # (B, H, n, C, dv)
        if bool(unsafe.any()):
            y[unsafe] = _decay_intra_stable(q[unsafe], k[unsafe], v[unsafe], la[unsafe], lb[unsafe], self.L)
        # each chunk's own contribution to the state at its end, and the decay across it
        la_end, lb_end = la[:, :, :, -1:], lb[:, :, :, -1:]
        contrib = torch.matmul((v * torch.exp(la_end - la)).transpose(-1, -2), k * torch.exp(lb_end - lb))
        decay = torch.exp(la_end).transpose(-1, -2) * torch.exp(lb_end)  # (B, H, n, dv, m)
        starts = torch.empty_like(contrib)
        S = x["s0"].clone() if "s0" in x else torch.zeros_like(contrib[:, :, 0])
        for c in range(n):
            starts[:, :, c] = S
            S = decay[:, :, c] * S + contrib[:, :, c]
        y = y + torch.exp(la) * torch.matmul(q * torch.exp(lb), starts.transpose(-1, -2))
        self.y = y.reshape(B, H, n * C, -1)[:, :, :T]

    def output(self):
        return self.y


class GatedChunked:
    """gated (rule=gated, norm=on): S_t = g_t S_{t-1} + (1 - g_t) v_t phi(k_t)^T, z alike,
    y_t = S_t phi(q_t) / (z_t . phi(q_t) + eps)."""

    def __init__(self, variant, chunk):
        self.variant, self.C = variant, chunk

    def prepare(self, x):
        self.x = x

    def run(self):
        x, C = self.x, self.C
        T = x["q"].shape[2]
        fq, fk = _chunks(_phi(self.variant, x["q"], x), C), _chunks(_phi(self.variant, x["k"], x), C)
        v = _chunks(x["v"], C)
        g = _chunks(x["gate"], C, 1.0)  # (B, H, n, C)
        w_in = 1.0 - g
        lg = torch.cumsum(torch.log(g), 3)  # (B, H, n, C)
        seg = lg.unsqueeze(-1) - lg.unsqueeze(-2)  # (B, H, n, C, C): log decay from s to t
        L = torch.exp(seg.masked_fill(~torch.tril(torch.ones(C, C, dtype=torch.bool)), float("-inf")))
        P = torch.matmul(fq, fk.transpose(-1, -2)) * L * w_in.unsqueeze(-2)  # weights of token s in t
        y = torch.matmul(P, v)
        den = P.sum(-1)  # z_t . phi(q_t), intra-chunk part
        end = lg[:, :, :, -1:]
        wk = (torch.exp(end - lg) * w_in).unsqueeze(-1) * fk  # (B, H, n, C, m)
        contrib = torch.matmul(v.transpose(-1, -2), wk)  # (B, H, n, dv, m)
        zcontrib = wk.sum(3)  # (B, H, n, m)
        B, H, n = v.shape[:3]
        S = torch.zeros_like(contrib[:, :, 0])
        z = torch.zeros_like(zcontrib[:, :, 0])
        starts, zstarts = torch.empty_like(contrib), torch.empty_like(zcontrib)
        chunk_decay = torch.exp(end)  # (B, H, n, 1)
        for c in range(n):
            starts[:, :, c], zstarts[:, :, c] = S, z
            S = chunk_decay[:, :, c, :, None] * S + contrib[:, :, c]
            z = chunk_decay[:, :, c] * z + zcontrib[:, :, c]
        inner = torch.exp(lg).unsqueeze(-1)
        y = y + inner * torch.matmul(fq, starts.transpose(-1, -2))
        den = den + inner.squeeze(-1) * (fq * zstarts.unsqueeze(3)).sum(-1)
        self.y = (y / (den.unsqueeze(-1) + NORM_EPS)).reshape(B, H, n * C, -1)[:, :, :T]

    def output(self):
        return self.y


# (variant rule, dfwbench form, mode) -> {peer name: factory(variant, chunk)}
PEERS = {
    ("softmax", "blocked", "prefill"): {"torch_sdpa": lambda v, c: SoftmaxSdpaPrefill(),
                                        "torch_eager": lambda v, c: SoftmaxEagerPrefill()},
    ("softmax", "decode", "decode"): {"torch_sdpa": lambda v, c: SoftmaxSdpaDecode(),
                                      "torch_eager": lambda v, c: SoftmaxEagerDecode()},
    ("decay", "decode", "decode"): {"torch_step": lambda v, c: StepDecode(v)},
    ("delta", "decode", "decode"): {"torch_step": lambda v, c: StepDecode(v)},
    ("decay", "recurrent", "prefill"): {"torch_recurrent": lambda v, c: StepRecurrent(v)},
    ("delta", "recurrent", "prefill"): {"torch_recurrent": lambda v, c: StepRecurrent(v)},
    ("decay", "chunked", "prefill"): {"torch_chunked": lambda v, c: DecayChunked(c)},
    ("gated", "chunked", "prefill"): {"torch_chunked": lambda v, c: GatedChunked(v, c)},
}


def peers_for(backend):
    """(the peers to time on this backend, a note on what is left out and why).
    cpu: PEERS. cuda: the softmax peers and the stateful decode step in the row's dtype,
    and fla's kernels (scripts/peer_fla.py) where fla imports; the Python-loop and
    matmul-form prefill peers stay on the CPU (fla's ops are what a GPU user runs)."""
    if backend == "cpu":
        return PEERS, ""
    from peer_fla import FLA_PEERS, fla_version
    peers = {key: dict(PEERS[key]) for key in (("softmax", "blocked", "prefill"), ("softmax", "decode", "decode"),
                                               ("decay", "decode", "decode"), ("delta", "decode", "decode"))}
    version, why = fla_version()
    if not version:
        return peers, f"fla not importable ({why}): no fla peers"
    for key, named in FLA_PEERS.items():
        peers.setdefault(key, {}).update(named)
    return peers, f"fla {version}"


def unsupported_reason(peer_name, row):
    """Why a peer cannot take this dfwbench row ("" when it can)."""
    if peer_name.startswith("fla_"):
        from peer_fla import fla_unsupported_reason
        return fla_unsupported_reason(peer_name, row)
    return ""


def supported(variant):
    """Whether the peers can compute this variant (rule, map and norm as they implement)."""
    if variant["rule"] == "softmax":
        return True
    if variant["rule"] in ("decay", "delta"):
        return variant["phi"] == "identity" and not variant["norm"]
    if variant["rule"] == "gated":
        return variant["phi"] == "relu_proj" and variant["norm"]
    return False
