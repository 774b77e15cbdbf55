// Softmax generation on the CPU: append the new token's k, v to a KV cache of
// capacity T, then attend with one query over the cached tokens (scores, max-
// shifted softmax, weighted sum of values). One (b, h) per thread. O(T d).
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "../eigen_types.hpp"
#include "../host_buffer.hpp"
#include "cpu_forms.hpp"
#include "threading.hpp"

namespace dfw {
namespace {

class SoftmaxDecodePrepared final : public Prepared {
 public:
  SoftmaxDecodePrepared(const Problem& p, Mode mode)
      : p_(p), s_(p.shape), mode_(mode),
        k_cache_(s_.B * s_.H * s_.T * s_.dk),
        v_cache_(s_.B * s_.H * s_.T * s_.dv),
        y_(s_.B * s_.H * (mode == Mode::sequence ? s_.T : 1) * s_.dv),
        scores_(omp_get_max_threads() * s_.T) {
    if (mode == Mode::decode_step) {  // the first T - 1 tokens are the context
      for (int64_t bh = 0; bh < s_.B * s_.H; ++bh)
        for (int64_t t = 0; t + 1 < s_.T; ++t) append(bh, t);
    }
  }

  void run() override {
    const int64_t BH = s_.B * s_.H, T = s_.T;
    for_each_head(BH, BH * T * (s_.dk + s_.dv), HeadSchedule::even, [&](int64_t bh, int thread) {
      float* scores = scores_.data() + thread * T;
      if (mode_ == Mode::sequence) {
        for (int64_t t = 0; t < T; ++t) {
          append(bh, t);
          attend(bh, t, scores, y_.data() + (bh * T + t) * s_.dv);
        }
      } else {
        append(bh, T - 1);
        attend(bh, T - 1, scores, y_.data() + bh * s_.dv);
      }
    });
  }

  Output output() const override {
    Output o;
    o.y.assign(y_.data(), y_.data() + y_.size());
    return o;
  }

 private:
  void append(int64_t bh, int64_t t) {
    const int64_t dk = s_.dk, dv = s_.dv, T = s_.T;
    std::copy_n(p_.k.data() + (bh * T + t) * dk, dk, k_cache_.data() + (bh * T + t) * dk);
    std::copy_n(p_.v.data() + (bh * T + t) * dv, dv, v_cache_.data() + (bh * T + t) * dv);
  }

  // Query of token t against cache rows 0..t.
  void attend(int64_t bh, int64_t t, float* scores, float* y) {
    const int64_t dk = s_.dk, dv = s_.dv, T = s_.T, n = t + 1;
    ConstMatMap<float> K(k_cache_.data() + bh * T * dk, n, dk);  // (n, dk)
    ConstMatMap<float> V(v_cache_.data() + bh * T * dv, n, dv);  // (n, dv)
    ConstVecMap<float> q(p_.q.data() + (bh * T + t) * dk, dk);
    VecMap<float> s(scores, n);
    s.noalias() = K * q;
    s *= 1.f / std::sqrt(float(dk));
    s = (s.array() - s.maxCoeff()).exp();
    VecMap<float>(y, dv).noalias() = V.transpose() * s / s.sum();
  }

  const Problem& p_;
  Shape s_;
  Mode mode_;
  HostBuffer<float> k_cache_;  // (B, H, T, dk)
  HostBuffer<float> v_cache_;  // (B, H, T, dv)
  HostBuffer<float> y_;        // (B, H, T or 1, dv)
  HostBuffer<float> scores_;   // per thread: (T)
};

}  // namespace

std::unique_ptr<Prepared> make_softmax_decode_cpu(const Problem& p, Mode mode) {
  return std::make_unique<SoftmaxDecodePrepared>(p, mode);
}

}  // namespace dfw
