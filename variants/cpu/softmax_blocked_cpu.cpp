// blocked/cpu/fp32 for softmax: causal attention in (64 x 64) tiles with an
// online softmax (running row max and sum, flash-attention style), so no T x T
// matrix is ever allocated. One (b, h) per thread; O(T^2 d) work, O(T d) memory.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "../eigen_types.hpp"
#include "../host_buffer.hpp"
#include "../impl.hpp"
#include "threading.hpp"

namespace dfw {
namespace {

constexpr int64_t kTile = 64;

struct TileScratch {
  TileScratch(int64_t dv) : scores(kTile, kTile), acc(kTile, dv), row_max(kTile), row_sum(kTile) {}
  RowMat<float> scores;  // (kTile, kTile)
  RowMat<float> acc;     // (kTile, dv)
  Vec<float> row_max, row_sum;
};

class SoftmaxBlockedPrepared final : public Prepared {
 public:
  explicit SoftmaxBlockedPrepared(const Problem& p)
      : s_(p.shape), q_(copy(p.q)), k_(copy(p.k)), v_(copy(p.v)), y_(p.v.size()) {
    for (int i = 0; i < omp_get_max_threads(); ++i) scratch_.emplace_back(s_.dv);
  }

  void run() override {
    const int64_t BH = s_.B * s_.H;
    for_each_head(BH, BH * s_.T * s_.T * (s_.dk + s_.dv) / 2, HeadSchedule::dynamic,
                  [&](int64_t bh, int thread) { run_head(bh, scratch_[thread]); });
  }

  Output output() const override {
    Output o;
    o.y.assign(y_.data(), y_.data() + y_.size());
    return o;
  }

 private:
  static HostBuffer<float> copy(const std::vector<float>& src) {
    HostBuffer<float> b(src.size());
    std::copy(src.begin(), src.end(), b.data());
    return b;
  }

  void run_head(int64_t bh, TileScratch& w) {
    const int64_t T = s_.T, dk = s_.dk, dv = s_.dv;
    const float scale = 1.f / std::sqrt(float(dk));
    ConstMatMap<float> Q(q_.data() + bh * T * dk, T, dk), K(k_.data() + bh * T * dk, T, dk);
    ConstMatMap<float> V(v_.data() + bh * T * dv, T, dv);
    MatMap<float> Y(y_.data() + bh * T * dv, T, dv);
    for (int64_t i0 = 0; i0 < T; i0 += kTile) {
      const int64_t nq = std::min(kTile, T - i0);
      auto acc = w.acc.topRows(nq);
      auto mx = w.row_max.head(nq);
      auto sum = w.row_sum.head(nq);
      acc.setZero();
      mx.setConstant(-std::numeric_limits<float>::infinity());
      sum.setZero();
      for (int64_t j0 = 0; j0 < i0 + nq; j0 += kTile) {
        const int64_t nk = std::min(kTile, T - j0);
        auto sc = w.scores.topLeftCorner(nq, nk);
        sc.noalias() = (Q.middleRows(i0, nq) * scale) * K.middleRows(j0, nk).transpose();
        if (j0 + nk > i0)  // diagonal tile: mask keys after the query
          for (int64_t i = 0; i < nq; ++i)
            for (int64_t j = std::max<int64_t>(0, i0 + i - j0 + 1); j < nk; ++j)
              sc(i, j) = -std::numeric_limits<float>::infinity();
        for (int64_t i = 0; i < nq; ++i) {
          const float new_max = std::max(mx[i], sc.row(i).maxCoeff());
          const float rescale = std::exp(mx[i] - new_max);  // 0 on the first tile (mx = -inf)
          sc.row(i) = (sc.row(i).array() - new_max).exp();
          sum[i] = sum[i] * rescale + sc.row(i).sum();
          acc.row(i) *= rescale;
          mx[i] = new_max;
        }
        acc.noalias() += sc * V.middleRows(j0, nk);
      }
      Y.middleRows(i0, nq) = sum.cwiseInverse().asDiagonal() * acc;
    }
  }

  Shape s_;
  HostBuffer<float> q_, k_;  // (B, H, T, dk)
  HostBuffer<float> v_, y_;  // (B, H, T, dv)
  std::vector<TileScratch> scratch_;
};

class SoftmaxBlockedCpu final : public Impl {
 public:
  FormKey key() const override { return {"blocked", "cpu", "fp32"}; }
  std::string unsupported_reason(const Variant& v, Mode mode) const override {
    if (!v.defined()) return v.undefined_reason;
    if (v.rule->stateful()) return "blocked is the softmax prefill form";
    if (mode != Mode::sequence) return "blocked is a whole-sequence form (see decode)";
    return "";
  }
  std::unique_ptr<Prepared> prepare(const Variant&, const Problem& p, const RunOptions&) const override {
    return std::make_unique<SoftmaxBlockedPrepared>(p);
  }
};

}  // namespace

std::unique_ptr<Impl> make_softmax_blocked_cpu_impl() { return std::make_unique<SoftmaxBlockedCpu>(); }

}  // namespace dfw
