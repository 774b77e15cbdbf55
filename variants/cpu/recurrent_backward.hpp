// The reverse-time backward of every stateful variant for one (b, h), in precision R
// (docs/MATH.md "Gradients"): the float64 reference runs it with R = double and a
// checkpoint at every token, recurrent/cpu/fp32 with R = float and one every C tokens.
//
// Forward once, keeping the state before every `every`-th token (checkpoints);
// then, chunk by chunk from the last, recompute the chunk's states from its
// checkpoint and walk them in reverse: output VJP, then the step's VJP (for the
// gated-linear factor path, both in one fused pass over the state's rows). Memory is
// O(T (dk + dv + m) + (T / every + every) rows m), not the O(T rows m) of storing
// every state. After the walk, the feature maps' VJPs turn dphi(q), dphi(k) into
// dq, dk (and dw, db).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "../eigen_types.hpp"
#include "../problem.hpp"
#include "backward_features.hpp"
#include "../variant.hpp"

namespace dfw {

// Where one (b, h)'s gradients go, shaped as the inputs; nullptr where the input is
// absent. Written, except features.dw / db, which are added to (shared by heads).
template <class R>
struct HeadGrads {
  R *dq, *dk, *dv, *dgate, *dbeta, *dgate_v, *dgate_k, *ds0;
  FeatureGrads<R> features;
};

// A gated-linear rule whose factors come from its gate inputs by a declared
// FactorForm gets its step VJP from the factors; otherwise the rule's own step_vjp.
inline bool uses_factor_vjp(const Rule& rule) {
  if (!rule.is_gated_linear()) return false;
  const FactorForm f = rule.factor_form();
  return f.a != Factor::computed && f.b != Factor::computed && f.c != Factor::computed;
}

// Empty when the backward of a stateful variant is defined; otherwise why not.
inline std::string stateful_backward_unsupported_reason(const Variant& v) {
  if (!v.defined()) return v.undefined_reason;
  if (!v.phi->has_vjp()) return "feature map " + v.phi->name() + " declares no vjp";
  if (!uses_factor_vjp(*v.rule) && !v.rule->has_step_vjp())
    return "rule " + v.rule->name() + " declares neither a factor form nor a step_vjp";
  return "";
}

// Elements of R the backward of one (b, h) needs as workspace.
inline int64_t recurrent_backward_workspace(int64_t T, int64_t m, int64_t rows, int64_t every) {
  const int64_t checkpoints = (T + every - 1) / every;
  return 6 * T * m                          // raw and used phi(q), phi(k); dphi(q), dphi(k)
         + (checkpoints + every + 1) * rows * m  // checkpoints; one chunk's states
         + 2 * rows * m                     // dS, dS_prev
         + 5 * rows + 4 * m;                // value, dvalue, output weights, factors and their
                                             // gradients, dphi(q)'s two terms
}

template <class R>
class RecurrentBackward {
 public:
  // work: recurrent_backward_workspace(...) elements, owned by the caller.
  RecurrentBackward(const Variant& var, int64_t T, int64_t dv, int64_t m, int64_t every, R* work)
      : var_(var), T_(T), dv_(dv), m_(m), rows_(dv + (var.normalise ? 1 : 0)), every_(std::max<int64_t>(every, 1)) {
    const int64_t checkpoints = (T + every_ - 1) / every_;
    auto take = [&work](int64_t n) { R* p = work; work += n; return p; };
    fq_raw_ = take(T * m);
    fk_raw_ = take(T * m);
    fq_ = take(T * m);
    fk_ = take(T * m);
    dfq_ = take(T * m);
    dfk_ = take(T * m);
    checkpoints_ = take(checkpoints * rows_ * m);
    chunk_states_ = take((every_ + 1) * rows_ * m);
    dS_ = take(rows_ * m);
    dS_prev_ = take(rows_ * m);
    vt_ = take(rows_);
    dvt_ = take(rows_);
    a_ = take(rows_);
    da_ = take(rows_);
    gp_ = take(rows_);
    b_ = take(m);
    db_ = take(m);
    first_ = take(m);
    zterm_ = take(m);
  }

  // dy (T, dv): the loss's gradient L = sum(y * dy). y (T, dv): the forward output, or nullptr.
  void run(const HeadInput<R>& in, const R* dy, const HeadGrads<R>& out, R* y) {
    cancel_terms2_ = cancel_sum2_ = gate_terms2_ = gate_sum2_ = 0;
    features(in);
    forward(in, y);
    std::fill(dS_, dS_ + rows_ * m_, R(0));
    const int64_t last_chunk = (T_ - 1) / every_;
    for (int64_t c = last_chunk; c >= 0; --c) backward_chunk(in, dy, out, c);
    if (out.ds0) std::copy(dS_, dS_ + dv_ * m_, out.ds0);
    head_feature_vjp(var_, in.features, in.q, T_, in.dk, m_, fq_raw_, fq_, dfq_, out.dq, out.features);
    head_feature_vjp(var_, in.features, in.k, T_, in.dk, m_, fk_raw_, fk_, dfk_, out.dk, out.features);
  }

  // Normalised variants: |terms| / |sum| of dphi(q) = S^T g + dden z over every token
  // of the last run (L2), 1 otherwise. Where one token dominates the state (T = 1,
  // gates near 0), y ~ v and the two terms cancel to O(eps): a float32 form's dq,
  // dk (and dw, db) then carry about this factor times its rounding.
  double normaliser_conditioning() const {
    return cancel_sum2_ > 0 ? std::sqrt(cancel_terms2_ / cancel_sum2_) : 1.0;
  }
  // The same for a scalar gate's gradient, sum_r da_r -/+ sum_r v_r (dS phi(k))_r, over every token.
  double gate_conditioning() const { return gate_sum2_ > 0 ? std::sqrt(gate_terms2_ / gate_sum2_) : 1.0; }

 private:
  void features(const HeadInput<R>& in) {
    head_features(var_, in.features, in.q, T_, in.dk, m_, fq_raw_, fq_);
    head_features(var_, in.features, in.k, T_, in.dk, m_, fk_raw_, fk_);
  }

  void start_state(const HeadInput<R>& in, R* S) const {
    std::fill(S, S + rows_ * m_, R(0));
    if (in.s0) std::copy(in.s0, in.s0 + dv_ * m_, S);
  }

  void step(const HeadInput<R>& in, R* S, int64_t t) {
    std::copy(in.v + t * dv_, in.v + (t + 1) * dv_, vt_);
    if (var_.normalise) vt_[dv_] = R(1);
    var_.rule->step(S, rows_, m_, fk_ + t * m_, vt_, in.gates_at(t));
  }

  void forward(const HeadInput<R>& in, R* y) {
    R* S = chunk_states_;  // scratch: the running state
    start_state(in, S);
    for (int64_t t = 0; t < T_; ++t) {
      if (t % every_ == 0) std::copy(S, S + rows_ * m_, checkpoints_ + (t / every_) * rows_ * m_);
      step(in, S, t);
      if (y) read_output(S, dv_, m_, var_.normalise, fq_ + t * m_, y + t * dv_);
    }
  }

  void backward_chunk(const HeadInput<R>& in, const R* dy, const HeadGrads<R>& out, int64_t c) {
    const int64_t t0 = c * every_, t1 = std::min(T_, t0 + every_), len = rows_ * m_;
    // chunk_states_[i]: the state before token t0 + i, i = 0..t1 - t0 (the last: after t1 - 1).
    std::copy(checkpoints_ + c * len, checkpoints_ + (c + 1) * len, chunk_states_);
    for (int64_t t = t0; t < t1; ++t) {
      R* next = chunk_states_ + (t - t0 + 1) * len;
      std::copy(next - len, next, next);
      step(in, next, t);
    }
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const R* S_prev = chunk_states_ + (t - t0) * len;
      output_weights(S_prev + len, t, dy + t * dv_);
      step_vjp(in, S_prev, t, out);
      std::swap(dS_, dS_prev_);
    }
  }

  // y_t's gradient as weights on the state's rows, gp (rows): dS_t += gp phi(q)^T and
  // dphi(q) = S_t^T gp. Without normalisation gp = dy; with it (y = n / den, n = S
  // phi(q), den = z . phi(q) + eps) gp = dy / den on the value rows and
  // dden = -(dy . y) / den on z's row.
  void output_weights(const R* S, int64_t t, const R* dy) {
    VecMap<R> gp(gp_, rows_);
    if (!var_.normalise) {
      gp = ConstVecMap<R>(dy, dv_);
      return;
    }
    ConstVecMap<R> q(fq_ + t * m_, m_);
    const R den = ConstVecMap<R>(S + dv_ * m_, m_).dot(q) + R(kNormEps);
    gp.head(dv_) = ConstVecMap<R>(dy, dv_) / den;
    gp[dv_] = -gp.head(dv_).dot(ConstMatMap<R>(S, dv_, m_) * q) / den;
  }

  // dphi(q_t) from its two terms, S_t[value rows]^T gp and dden z (first_, zterm_),
  // and how much they cancel (normaliser_conditioning).
  void finish_dfq(int64_t t) {
    VecMap<R> df(dfq_ + t * m_, m_);
    ConstVecMap<R> first(first_, m_), zterm(zterm_, m_);
    if (!var_.normalise) {
      df = first;
      return;
    }
    df = first + zterm;
    const double terms = double(first.norm()) + double(zterm.norm());
    cancel_terms2_ += terms * terms;
    cancel_sum2_ += double(df.squaredNorm());
  }

  // The output VJP alone, for rules with their own step_vjp.
  void output_vjp(const R* S, int64_t t) {
    ConstVecMap<R> q(fq_ + t * m_, m_), gp(gp_, rows_);
    MatMap<R>(dS_, rows_, m_).noalias() += gp * q.transpose();
    VecMap<R>(first_, m_).noalias() = ConstMatMap<R>(S, dv_, m_).transpose() * gp.head(dv_);
    if (var_.normalise) VecMap<R>(zterm_, m_) = gp[dv_] * ConstVecMap<R>(S + dv_ * m_, m_);
    finish_dfq(t);
  }

  void step_vjp(const HeadInput<R>& in, const R* S_prev, int64_t t, const HeadGrads<R>& out) {
    const TokenGates<R> g = in.gates_at(t);
    std::copy(in.v + t * dv_, in.v + (t + 1) * dv_, vt_);
    if (var_.normalise) vt_[dv_] = R(1);
    R* dfk = dfk_ + t * m_;
    GateGrads<R> dg;
    if (uses_factor_vjp(*var_.rule)) {
      factor_vjp(g, S_prev, t, out, dg);
    } else {
      output_vjp(S_prev + rows_ * m_, t);  // S_t: the next state of the chunk
      var_.rule->step_vjp(S_prev, rows_, m_, fk_ + t * m_, vt_, g, dS_, dS_prev_, dfk, dvt_, dg);
    }
    std::copy(dvt_, dvt_ + dv_, out.dv + t * dv_);  // z's row has v = 1: no gradient
    if (out.dgate) out.dgate[t] = dg.g;
    if (var_.rule->gate_inputs() & kScalarGate) gate_sum2_ += double(dg.g) * double(dg.g);
    if (out.dbeta) out.dbeta[t] = dg.beta;
  }

  // One fused pass over the rows of S_t, S_{t-1} and dS, for
  // S_t = (a b^T) * S_{t-1} + c v phi(k)^T:
  //   output: dS += gp phi(q)^T, dphi(q) = S_t^T gp;
  //   step: dS_prev = (a b^T) * dS, da = rowsum(b^T * S_prev * dS), db = colsum(a * S_prev * dS),
  //   dc = v^T dS phi(k), dv = c dS phi(k), dphi(k) = c dS^T v;
  // then the gate inputs' gradients through the rule's FactorForm.
  void factor_vjp(const TokenGates<R>& g, const R* S_prev, int64_t t, const HeadGrads<R>& out, GateGrads<R>& dg) {
    const FactorForm form = var_.rule->factor_form();
    ArrMap<R> a(a_, rows_), b(b_, m_);
    const R c = factor_values(form, g, a, b);
    const R* S = S_prev + rows_ * m_;  // S_t: the next state of the chunk
    ConstArrMap<R> q(fq_ + t * m_, m_), k(fk_ + t * m_, m_);
    ArrMap<R> first(first_, m_), zterm(zterm_, m_), db(db_, m_), dfk(dfk_ + t * m_, m_);
    first.setZero();
    zterm.setZero();
    db.setZero();
    dfk.setZero();
    for (int64_t r = 0; r < rows_; ++r) {
      ConstArrMap<R> st(S + r * m_, m_), sp(S_prev + r * m_, m_);
      ArrMap<R> ds(dS_ + r * m_, m_), prev(dS_prev_ + r * m_, m_);
      ds += gp_[r] * q;
      (r < dv_ ? first : zterm) += gp_[r] * st;
      da_[r] = (sp * ds * b).sum();
      db += a[r] * (sp * ds);
      dvt_[r] = (ds * k).sum();  // (dS phi(k))_r, scaled by c below
      dfk += (c * vt_[r]) * ds;
      prev = (a[r] * b) * ds;
    }
    finish_dfq(t);
    ConstVecMap<R> v(vt_, rows_);
    VecMap<R> dsk(dvt_, rows_);
    const R dc = v.dot(dsk);
    const double dc_terms = double(v.cwiseProduct(dsk).cwiseAbs().sum());
    dsk *= c;
    const double terms = double(VecMap<R>(da_, rows_).cwiseAbs().sum()) + dc_terms;
    gate_terms2_ += terms * terms;
    dg.g = factor_grads_to_gates(form, da_, db_, dc, rows_, dv_, m_, out.dgate_v ? out.dgate_v + t * dv_ : nullptr,
                                 out.dgate_k ? out.dgate_k + t * m_ : nullptr);
  }

  // The factors a (rows), b (m) and c in R, from the gate inputs by the form.
  R factor_values(const FactorForm& form, const TokenGates<R>& g, ArrMap<R>& a, ArrMap<R>& b) const {
    auto scalar = [&g](Factor f) { return f == Factor::gate ? g.g : f == Factor::one_minus_gate ? R(1) - g.g : R(1); };
    if (form.a == Factor::gate_rows)
      a = ConstArrMap<R>(g.a, rows_);
    else
      a.setConstant(scalar(form.a));
    if (form.b == Factor::gate_rows)
      b = ConstArrMap<R>(g.b, m_);
    else
      b.setConstant(scalar(form.b));
    return scalar(form.c);
  }

  const Variant& var_;
  int64_t T_, dv_, m_, rows_, every_;
  double cancel_terms2_ = 0, cancel_sum2_ = 0;  // normaliser_conditioning()
  double gate_terms2_ = 0, gate_sum2_ = 0;      // gate_conditioning()
  R *fq_raw_, *fk_raw_, *fq_, *fk_, *dfq_, *dfk_, *checkpoints_, *chunk_states_;
  R *dS_, *dS_prev_, *vt_, *dvt_, *a_, *da_, *gp_, *b_, *db_, *first_, *zterm_;
};

}  // namespace dfw
