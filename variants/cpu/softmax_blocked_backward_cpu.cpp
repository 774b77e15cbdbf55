// blocked/cpu/fp32 backward of softmax attention, FlashAttention-2's way on a CPU:
// one (b, h) per thread; the forward in 64 x 64 tiles with an online softmax keeps
// only y (T, dv) and the log-sum-exp L (T) of each row; the backward recomputes each
// tile's probabilities P = exp(s q k^T - L) from them, so no T x T matrix exists:
//   D_t = dy_t . y_t;  per key tile j, per query tile i >= j:
//   dv_j += P^T dy_i,  dS = P * (dy_i v_j^T - D_i),  dq_i += s dS k_j,  dk_j += s dS^T q_i.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "../backward_impl.hpp"
#include "../eigen_types.hpp"
#include "../host_buffer.hpp"
#include "threading.hpp"

namespace dfw {
namespace {

constexpr int64_t kTile = 64;

class SoftmaxBackwardPrepared final : public PreparedBackward {
 public:
  SoftmaxBackwardPrepared(const Problem& p, const std::vector<float>& dy)
      : p_(p), dy_(dy), threads_(omp_get_max_threads()),
        per_thread_(p.shape.T * (p.shape.dv + 2)), work_(threads_ * per_thread_),
        dq_(p.q.size()), dk_(p.k.size()), dv_(p.v.size()) {}

  void run() override {
    const Shape& s = p_.shape;
    const int64_t BH = s.B * s.H;
    for_each_head(BH, 3 * BH * s.T * s.T * (s.dk + s.dv), HeadSchedule::dynamic,
                  [&](int64_t bh, int thread) { run_head(bh, thread); });
  }

  Gradients gradients() const override {
    Gradients g;
    g.q = widened(dq_);
    g.k = widened(dk_);
    g.v = widened(dv_);
    return g;
  }

 private:
  using Tile = RowMat<float>;

  void run_head(int64_t bh, int thread) {
    const Shape& s = p_.shape;
    const int64_t T = s.T, dk = s.dk, dv = s.dv;
    const float scale = 1.f / std::sqrt(float(dk));
    ConstMatMap<float> q(p_.q.data() + bh * T * dk, T, dk), k(p_.k.data() + bh * T * dk, T, dk),
        v(p_.v.data() + bh * T * dv, T, dv), dy(dy_.data() + bh * T * dv, T, dv);
    float* w = work_.data() + thread * per_thread_;
    MatMap<float> y(w, T, dv);            // (T, dv) forward output
    VecMap<float> lse(w + T * dv, T);     // (T) log-sum-exp of each row's scaled scores
    VecMap<float> delta(w + T * dv + T, T);  // (T) dy_t . y_t
    MatMap<float> dq(dq_.data() + bh * T * dk, T, dk), dkk(dk_.data() + bh * T * dk, T, dk),
        dvv(dv_.data() + bh * T * dv, T, dv);
    forward(q, k, v, scale, y, lse);
    delta = dy.cwiseProduct(y).rowwise().sum();
    dq.setZero();
    Tile sc, p, dp;
    for (int64_t c0 = 0; c0 < T; c0 += kTile) {
      const int64_t nc = std::min(kTile, T - c0);
      auto kj = k.middleRows(c0, nc);
      auto vj = v.middleRows(c0, nc);
      auto dkj = dkk.middleRows(c0, nc);
      auto dvj = dvv.middleRows(c0, nc);
      dkj.setZero();
      dvj.setZero();
      for (int64_t r0 = c0; r0 < T; r0 += kTile) {  // query tiles at or after the key tile
        const int64_t nr = std::min(kTile, T - r0);
        auto qi = q.middleRows(r0, nr);
        probabilities(qi, kj, scale, lse.segment(r0, nr), r0, c0, sc, p);
        auto dyi = dy.middleRows(r0, nr);
        dvj.noalias() += p.transpose() * dyi;
        dp.noalias() = dyi * vj.transpose();
        dp = p.cwiseProduct((dp.colwise() - delta.segment(r0, nr))) * scale;  // dS, scaled
        dq.middleRows(r0, nr).noalias() += dp * kj;
        dkj.noalias() += dp.transpose() * qi;
      }
    }
  }

  // P = exp(s q_i k_j^T - L_i), 0 where the key is after the query.
  template <class Q, class K, class L>
  static void probabilities(const Q& qi, const K& kj, float scale, const L& lse, int64_t r0, int64_t c0, Tile& sc,
                            Tile& p) {
    sc.noalias() = (qi * kj.transpose()) * scale;
    sc.colwise() -= lse;
    p = sc.array().exp().matrix();
    if (c0 + kj.rows() > r0 + 1) mask_future(p, r0, c0);
  }

  static void mask_future(Tile& t, int64_t r0, int64_t c0) {
    for (int64_t i = 0; i < t.rows(); ++i)
      for (int64_t j = std::max<int64_t>(0, r0 + i + 1 - c0); j < t.cols(); ++j) t(i, j) = 0.f;
  }

  // y = softmax(s q k^T) v, causal, by tiles with an online softmax; L = the row's
  // max + log of its sum.
  static void forward(const ConstMatMap<float>& q, const ConstMatMap<float>& k, const ConstMatMap<float>& v,
                      float scale, MatMap<float>& y, VecMap<float>& lse) {
    const int64_t T = q.rows();
    Tile sc;
    Vec<float> mx, sum, rescale;
    for (int64_t r0 = 0; r0 < T; r0 += kTile) {
      const int64_t nr = std::min(kTile, T - r0);
      auto qi = q.middleRows(r0, nr);
      auto yi = y.middleRows(r0, nr);
      yi.setZero();
      mx.setConstant(nr, -std::numeric_limits<float>::infinity());
      sum.setZero(nr);
      for (int64_t c0 = 0; c0 < r0 + nr; c0 += kTile) {
        const int64_t nc = std::min(kTile, T - c0);
        sc.noalias() = (qi * k.middleRows(c0, nc).transpose()) * scale;
        if (c0 + nc > r0 + 1)
          for (int64_t i = 0; i < nr; ++i)
            for (int64_t j = std::max<int64_t>(0, r0 + i + 1 - c0); j < nc; ++j)
              sc(i, j) = -std::numeric_limits<float>::infinity();
        const Vec<float> new_mx = mx.cwiseMax(sc.rowwise().maxCoeff());
        rescale = (mx - new_mx).array().exp().matrix();
        sc.colwise() -= new_mx;
        sc = sc.array().exp().matrix();
        sum = sum.cwiseProduct(rescale) + sc.rowwise().sum();
        yi = rescale.asDiagonal() * yi;
        yi.noalias() += sc * v.middleRows(c0, nc);
        mx = new_mx;
      }
      yi = sum.cwiseInverse().asDiagonal() * yi;
      lse.segment(r0, nr) = mx + sum.array().log().matrix();
    }
  }

  const Problem& p_;
  const std::vector<float>& dy_;
  int threads_;
  int64_t per_thread_;
  HostBuffer<float> work_;  // per thread: y (T, dv), L (T), D (T)
  HostBuffer<float> dq_, dk_, dv_;
};

class SoftmaxBlockedBackwardCpu final : public BackwardImpl {
 public:
  FormKey key() const override { return {"blocked", "cpu", "fp32"}; }
  std::string unsupported_reason(const Variant& v) const override {
    if (!v.defined()) return v.undefined_reason;
    return v.rule->stateful() ? "the blocked form is softmax attention's" : "";
  }
  std::unique_ptr<PreparedBackward> prepare(const Variant&, const Problem& p, const std::vector<float>& dy,
                                            const RunOptions&) const override {
    return std::make_unique<SoftmaxBackwardPrepared>(p, dy);
  }
};

}  // namespace

std::unique_ptr<BackwardImpl> make_softmax_blocked_backward_cpu_impl() {
  return std::make_unique<SoftmaxBlockedBackwardCpu>();
}

}  // namespace dfw
