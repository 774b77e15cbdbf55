"""flash-linear-attention (fla) kernels as GPU peers of dfwbench's stateful rules.

fla's ops are Triton and run on a GPU only. scripts/peers.py --backend cuda times them
where `fla` is importable: installed, or unpacked into .peerdeps/python by
scripts/pack_peer_deps.sh (fla-core and what it imports that a GPU image may lack),
which scripts/gpu_check.sh puts on PYTHONPATH. Written against fla-core 0.6.0, whose
ops take (B, T, H, d) tensors and a (B, H, K, V) state; dfwbench's are (B, H, T, d)
and (B, H, dv, m), so prepare() transposes (untimed) and the state is S^T.

The peers (name: fla op, for which dfwbench rows):
  fla_fused_recurrent_gla          fused_recurrent_gla with key gates gk = log b and
                                   value gates gv = log a, scale 1: dfw (decay, identity
                                   features, no normaliser) prefill (paired with the
                                   recurrent form) and decode (one step from s0). fla's
                                   chunk_gla takes key gates only, so no fla op computes dfw
                                   chunk-wise.
  fla_chunk_delta_rule             chunk_delta_rule, scale 1: delta prefill.
  fla_fused_recurrent_delta_rule   fused_recurrent_delta_rule, scale 1: delta prefill and
                                   decode.
Every run asks for the final state too (output_final_state), as dfwbench's forms write it.
q, k, v come in the row's dtype; log gates and states in fp32, beta in q's dtype.
fla_unsupported_reason() names the rows an op refuses (peers.py writes them unsupported).
"""
import torch


def fla_version():
    """(fla's version, "") where its ops import, else (None, why not)."""
    try:
        import fla
        from fla.ops.delta_rule import chunk_delta_rule, fused_recurrent_delta_rule  # noqa: F401
        from fla.ops.gla import fused_recurrent_gla  # noqa: F401
        return getattr(fla, "__version__", "?"), ""
    except Exception as e:  # ImportError, or a Triton / torch mismatch raised at import
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def fla_unsupported_reason(peer_name, row):
    """What fla-core 0.6.0 refuses: chunk_delta_rule takes fp16 / bf16 only and K <= 256."""
    if peer_name == "fla_chunk_delta_rule" and row["dtype"] == "fp32":
        return "fla's chunk_delta_rule takes fp16 or bf16, not fp32"
    if peer_name == "fla_chunk_delta_rule" and row["dk"] > 256:
        return f"fla's chunk_delta_rule takes K <= 256, not {row['dk']}"
    return ""


def _tokens_first(t):
    """(B, H, T, d) -> (B, T, H, d), contiguous; (B, H, T) -> (B, T, H)."""
    return t.transpose(1, 2).contiguous()


def _state(x):
    """dfwbench's s0 (B, H, dv, m) as fla's initial state (B, H, K = m, V = dv), fp32."""
    return x["s0"].transpose(-1, -2).float().contiguous() if "s0" in x else None


class FlaGlaRecurrent:
    def prepare(self, x):
        from fla.ops.gla import fused_recurrent_gla
        self.op = fused_recurrent_gla
        self.q, self.k, self.v = (_tokens_first(x[n]) for n in ("q", "k", "v"))
        self.gk = _tokens_first(torch.log(x["gate_k"].float()))
        self.gv = _tokens_first(torch.log(x["gate_v"].float()))
        self.h0 = _state(x)

    def run(self):
        self.y, self.ht = self.op(self.q, self.k, self.v, gk=self.gk, gv=self.gv, scale=1.0,
                                  initial_state=self.h0, output_final_state=True)

    def output(self):
        return self.y.transpose(1, 2)


class FlaDelta:
    def __init__(self, chunked):
        self.chunked = chunked

    def prepare(self, x):
        from fla.ops.delta_rule import chunk_delta_rule, fused_recurrent_delta_rule
        self.op = chunk_delta_rule if self.chunked else fused_recurrent_delta_rule
        self.q, self.k, self.v = (_tokens_first(x[n]) for n in ("q", "k", "v"))
        self.beta = _tokens_first(x["beta"]).to(self.q.dtype)
        self.h0 = _state(x)

    def run(self):
        self.y, self.ht = self.op(self.q, self.k, self.v, self.beta, scale=1.0, initial_state=self.h0,
                                  output_final_state=True)

    def output(self):
        return self.y.transpose(1, 2)


# (variant rule, dfwbench form, mode) -> {peer name: factory(variant, chunk)}
FLA_PEERS = {
    ("decay", "recurrent", "prefill"): {"fla_fused_recurrent_gla": lambda v, c: FlaGlaRecurrent()},
    ("decay", "decode", "decode"): {"fla_fused_recurrent_gla": lambda v, c: FlaGlaRecurrent()},
    ("delta", "recurrent", "prefill"): {"fla_chunk_delta_rule": lambda v, c: FlaDelta(True),
                                        "fla_fused_recurrent_delta_rule": lambda v, c: FlaDelta(False)},
    ("delta", "decode", "decode"): {"fla_fused_recurrent_delta_rule": lambda v, c: FlaDelta(False)},
}
