// blocked/cpu/fp32 for softmax: causal flash attention with an online softmax
// (running row max and sum), so no T x T matrix is ever allocated. One (b, h)
// per thread; O(T^2 d) work.
//   - Per head, K is packed transposed into panels of kKeys keys, scaled by
//     log2(e) / sqrt(dk), so scores come out in base 2 and softmax takes exp2;
//     V is packed into rows of Lanes (lanes.hpp).
//   - Per block of kQueries queries, strip by strip of kGemmRows queries, each
//     key panel up to the strip's last query: scores = one lanes_gemm, the
//     online softmax on them in place (exp2 by a polynomial), then
//     out = rescale * out + probabilities V, the rescale folded into the GEMM's
//     load of out.
// Memory per thread: the packed K and V of one head (2 T d floats) and tiles of
// the block (kQueries x (kKeys + dv) floats).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "../host_buffer.hpp"
#include "../impl.hpp"
#include "lanes.hpp"
#include "threading.hpp"

namespace dfw {
namespace {

// Both multiples of kGemmRows, so a strip of queries that sees a key panel at
// all sees at least its first key from every query.
constexpr int64_t kQueries = 128;  // queries per block
constexpr int64_t kKeys = 128;     // keys per panel, also a multiple of kLanes
constexpr int64_t kKeyLanes = kKeys / kLanes;
constexpr float kInf = std::numeric_limits<float>::infinity();

// 2^x for x <= 0 (or -inf) in every lane of a register (RegLanes, lanes.hpp):
// 2^n 2^f with n = round(x), |f| <= 1/2, and 2^f by its degree-6 minimax
// polynomial (relative error ~1e-7 in fp32); 0 below -125 (2^x < 3e-38), where
// adding n to the exponent bits would leave the normal range.
inline RegLanes exp2_nonpositive(RegLanes x) {
  using Bits = uint32_t __attribute__((vector_size(sizeof(RegLanes))));
  const RegLanes shifter = reg_splat(0x1.8p23f);  // x + shifter rounds x, n in the low mantissa bits
  const RegLanes t = x + shifter;
  const RegLanes f = x - (t - shifter);
  RegLanes p = reg_splat(0x1.41d334p-13f);
  p = p * f + reg_splat(0x1.5f456ap-10f);
  p = p * f + reg_splat(0x1.3b2dbcp-7f);
  p = p * f + reg_splat(0x1.c6aed4p-5f);
  p = p * f + reg_splat(0x1.ebfbdap-3f);
  p = p * f + reg_splat(0x1.62e430p-1f);
  p = p * f + reg_splat(1.f);
  const RegLanes r = (RegLanes)((Bits)p + ((Bits)t << 23));  // exponent += n
  return x >= reg_splat(-125.f) ? r : RegLanes{};
}

// The lane indices of one register, 0, 1, ..., kRegFloats - 1.
inline RegLanes reg_iota() {
  RegLanes v{};
  for (int i = 0; i < kRegFloats; ++i) v[i] = float(i);
  return v;
}

// Per-thread scratch; kl = kKeyLanes, rv = lane_count(dv).
struct HeadScratch {
  HeadScratch(int64_t T, int64_t dk, int64_t dv)
      : kt((T + kKeys - 1) / kKeys * dk * kKeyLanes),
        v(T * lane_count(dv)),
        q(kQueries * dk),
        s(kQueries * kKeyLanes),
        o(kQueries * lane_count(dv)),
        row_max(kQueries),
        row_sum(kQueries),
        rescale(kQueries) {}
  std::vector<Lanes> kt;  // (panels, dk, kl): K^T * log2(e) / sqrt(dk), zero past T
  std::vector<Lanes> v;   // (T, rv): V, zero-padded
  std::vector<float> q;   // (kQueries, dk): the block's queries, zero past T
  std::vector<Lanes> s;   // (kQueries, kl): one panel's scores, then probabilities
  std::vector<Lanes> o;   // (kQueries, rv): outputs before division by sum
  std::vector<float> row_max, row_sum, rescale;  // (kQueries): running max (base 2) and sum; last rescale
};

class SoftmaxBlockedPrepared final : public Prepared {
 public:
  explicit SoftmaxBlockedPrepared(const Problem& p)
      : s_(p.shape), q_(copy(p.q)), k_(copy(p.k)), v_(copy(p.v)), y_(p.v.size()) {
    for (int i = 0; i < omp_get_max_threads(); ++i) scratch_.emplace_back(s_.T, s_.dk, s_.dv);
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

  void run_head(int64_t bh, HeadScratch& w) {
    const int64_t T = s_.T, dk = s_.dk, dv = s_.dv, rv = lane_count(dv);
    const float* Q = q_.data() + bh * T * dk;  // (T, dk)
    pack_head(bh, w);
    for (int64_t i0 = 0; i0 < T; i0 += kQueries) {
      const int64_t nq = std::min(kQueries, T - i0);
      std::fill(std::copy(Q + i0 * dk, Q + (i0 + nq) * dk, w.q.begin()), w.q.end(), 0.f);
      std::fill(w.o.begin(), w.o.end(), Lanes{});
      std::fill(w.row_max.begin(), w.row_max.end(), -kInf);
      std::fill(w.row_sum.begin(), w.row_sum.end(), 0.f);
      for (int64_t j0 = 0; j0 < i0 + nq; j0 += kKeys) attend_panel(i0, nq, j0, w);
      float* Y = y_.data() + (bh * T + i0) * dv;  // (nq, dv)
      for (int64_t i = 0; i < nq; ++i) {
        const float* o = reinterpret_cast<const float*>(w.o.data() + i * rv);
        const float inv = 1.f / w.row_sum[i];
        for (int64_t c = 0; c < dv; ++c) Y[i * dv + c] = o[c] * inv;
      }
    }
  }

  // Head bh's K into w.kt (transposed, scaled, in panels) and V into w.v.
  void pack_head(int64_t bh, HeadScratch& w) const {
    const int64_t T = s_.T, dk = s_.dk, dv = s_.dv, rv = lane_count(dv);
    const float* K = k_.data() + bh * T * dk;  // (T, dk)
    const float* V = v_.data() + bh * T * dv;  // (T, dv)
    const float scale = float(M_LOG2E) / std::sqrt(float(dk));
    for (int64_t j = 0; j < T; ++j) {
      Lanes* panel = w.kt.data() + j / kKeys * dk * kKeyLanes;
      const int64_t col = j % kKeys;
      for (int64_t c = 0; c < dk; ++c) panel[c * kKeyLanes + col / kLanes][col % kLanes] = K[j * dk + c] * scale;
      std::copy(V + j * dv, V + (j + 1) * dv, reinterpret_cast<float*>(w.v.data() + j * rv));
    }
  }

  // Queries [i0, i0 + nq) (in w.q, w.o, ...) against the keys of the panel at j0.
  void attend_panel(int64_t i0, int64_t nq, int64_t j0, HeadScratch& w) const {
    const int64_t dk = s_.dk, rv = lane_count(s_.dv);
    const int64_t nk = std::min(kKeys, s_.T - j0);
    const Lanes* kt = w.kt.data() + j0 / kKeys * dk * kKeyLanes;  // (dk, kl)
    auto zero = [](int64_t, int64_t, int, RegLanes) { return RegLanes{}; };
    for (int64_t r = 0; r < nq; r += kGemmRows) {
      const int64_t n = std::min(nk, i0 + r + kGemmRows - j0);  // keys seen by the strip's last query
      if (n <= 0) continue;
      Lanes* s = w.s.data() + r * kKeyLanes;  // (kGemmRows, kl)
      lanes_gemm(w.q.data() + r * dk, dk, 1, kt, kKeyLanes, dk, s, kKeyLanes, kGemmRows, lane_count(n), 0, zero);
      for (int64_t i = r; i < r + kGemmRows; ++i)
        softmax_row(w.s.data() + i * kKeyLanes, lane_count(n), std::min(nk, i0 + i + 1 - j0), i, w);
      const float* rescale = w.rescale.data() + r;
      auto rescaled = [rescale](int64_t i, int64_t, int, RegLanes o) { return o * rescale[i]; };
      lanes_gemm(reinterpret_cast<const float*>(s), kKeys, 1, w.v.data() + j0 * rv, rv, n, w.o.data() + r * rv, rv,
                 kGemmRows, rv, 0, rescaled);
    }
  }

  // Row i's scores s (lanes Lanes, keys past `valid` masked) into probabilities
  // exp2(s - max), updating the row's running max and sum and setting its rescale.
  // Elementwise over target registers (RegLanes), not Lanes temporaries.
  static void softmax_row(Lanes* row, int64_t lanes, int64_t valid, int64_t i, HeadScratch& w) {
    RegLanes* s = regs(row);
    const int64_t n = lanes * kRegsPerLanes;
    const RegLanes iota = reg_iota();
    for (int64_t l = valid / kRegFloats; l < n; ++l)
      s[l] = iota + float(l * kRegFloats) < float(valid) ? s[l] : reg_splat(-kInf);
    RegLanes m = s[0];
    for (int64_t l = 1; l < n; ++l) m = m > s[l] ? m : s[l];
    const float new_max = std::max(w.row_max[i], reg_max(m));
    const RegLanes shift = reg_splat(new_max);
    RegLanes total{};
    for (int64_t l = 0; l < n; ++l) {
      s[l] = exp2_nonpositive(s[l] - shift);
      total += s[l];
    }
    // 0 on the first panel (max = -inf); 1 without a call where the max holds
    w.rescale[i] = new_max == w.row_max[i] ? 1.f : std::exp2(w.row_max[i] - new_max);
    w.row_sum[i] = w.row_sum[i] * w.rescale[i] + reg_sum(total);
    w.row_max[i] = new_max;
  }

  Shape s_;
  HostBuffer<float> q_, k_;  // (B, H, T, dk)
  HostBuffer<float> v_, y_;  // (B, H, T, dv)
  std::vector<HeadScratch> scratch_;
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
