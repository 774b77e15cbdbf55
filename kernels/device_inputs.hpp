// DeviceInputs<T>: a Problem's tensors copied to the device. q, k, v in the
// storage type T (float, Fp16, Bf16); gates, feature parameters and s0 stay fp32
// (gate values down to 1e-6 and exactly 1 keep their meaning; docs/MATH.md keeps state
// and accumulation fp32). Plus the host-side conversions the forms share.
#pragma once

#include <vector>

#include "device_buffer.hpp"
#include "half_convert.hpp"
#include "problem.hpp"

namespace dfw {

template <class T>
std::vector<T> convert_to(const std::vector<float>& x) {
  std::vector<T> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = from_float<T>(x[i]);
  return out;
}

template <class T>
std::vector<double> widen(const std::vector<T>& x) {
  std::vector<double> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = to_float(x[i]);
  return out;
}

template <class T>
struct DeviceInputs {
  DeviceInputs(const Problem& p, cudaStream_t s)
      : q(p.q.size()), k(p.k.size()), v(p.v.size()), gate(p.gate.size()), beta(p.beta.size()),
        gate_v(p.gate_v.size()), gate_k(p.gate_k.size()), w(p.w.size()), b(p.b.size()), omega(p.omega.size()),
        s0(p.s0.size()) {
    q.upload(convert_to<T>(p.q), s);
    k.upload(convert_to<T>(p.k), s);
    v.upload(convert_to<T>(p.v), s);
    gate.upload(p.gate, s);
    beta.upload(p.beta, s);
    gate_v.upload(p.gate_v, s);
    gate_k.upload(p.gate_k, s);
    w.upload(p.w, s);
    b.upload(p.b, s);
    omega.upload(p.omega, s);
    s0.upload(p.s0, s);
  }

  DeviceBuffer<T> q, k;                  // (B, H, T, dk)
  DeviceBuffer<T> v;                     // (B, H, T, dv)
  DeviceBuffer<float> gate, beta;        // (B, H, T)
  DeviceBuffer<float> gate_v;            // (B, H, T, dv)
  DeviceBuffer<float> gate_k;            // (B, H, T, m)
  DeviceBuffer<float> w, b, omega;       // (H, m, dk), (H, m), (H, m, dk)
  DeviceBuffer<float> s0;                // (B, H, dv, m) or empty
};

}  // namespace dfw
