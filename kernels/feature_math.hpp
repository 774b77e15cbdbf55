// Feature maps phi (docs/MATH.md "Feature maps") one output element at a time, shared by
// the CUDA kernels (one thread per feature) and the CPU tile tests.
#pragma once

#include <math.h>
#include <stdint.h>

#include "dfw_hd.hpp"

namespace dfw {

enum class FeatureKind : int { identity, elu1, relu_proj, favor, dpfp };

// One head's feature map: kind, sizes and parameters (device or host pointers).
struct FeatureSpec {
  FeatureKind kind = FeatureKind::identity;
  int dk = 0, m = 0;
  float favor_scale = 1.f;   // dk^(-1/4)
  float inv_sqrt_m = 1.f;    // 1 / sqrt(m)
  const float* w = nullptr;      // (m, dk)  relu_proj, this head
  const float* b = nullptr;      // (m)      relu_proj, this head
  const float* omega = nullptr;  // (m, dk)  favor, this head
};

// The spec of head h from the parameters of every head, w (H, m, dk), b (H, m),
// omega (H, m, dk), each nullptr when the map has none; given one head's own
// parameters, h = 0. Device: rsqrtf only (dk^(-1/4) as rsqrtf(dk * rsqrtf(dk)): an
// IEEE sqrtf calls a slow-path subroutine, see divide_normal); host: 1 / sqrtf.
DFW_HD FeatureSpec head_feature_spec(FeatureKind kind, int dk, int m, const float* w, const float* b,
                                     const float* omega, int64_t h) {
  FeatureSpec f;
  f.kind = kind;
  f.dk = dk;
  f.m = m;
#ifdef __CUDA_ARCH__
  f.favor_scale = rsqrtf(float(dk) * rsqrtf(float(dk)));
  f.inv_sqrt_m = rsqrtf(float(m));
#else
  f.favor_scale = 1.f / sqrtf(sqrtf(float(dk)));
  f.inv_sqrt_m = 1.f / sqrtf(float(m));
#endif
  if (w) f.w = w + h * m * dk;
  if (b) f.b = b + h * m;
  if (omega) f.omega = omega + h * m * dk;
  return f;
}

// dpfp's r = [relu(x), relu(-x)] (2 dk), element i.
DFW_HD float dpfp_r(const float* x, int dk, int i) {
  return i < dk ? fmaxf(x[i], 0.f) : fmaxf(-x[i - dk], 0.f);
}

// phi(x)_j for one row x (dk); x_sq = |x|^2 (read by favor only).
DFW_HD float feature_at(const FeatureSpec& f, const float* x, float x_sq, int j) {
  switch (f.kind) {
    case FeatureKind::identity:
      return x[j];
    case FeatureKind::elu1:
      return x[j] > 0.f ? x[j] + 1.f : expf(x[j]);
    case FeatureKind::relu_proj: {
      float acc = f.b[j];
      for (int c = 0; c < f.dk; ++c) acc += f.w[j * f.dk + c] * x[c];
      return fmaxf(acc, 0.f);
    }
    case FeatureKind::favor: {
      float dot = 0.f;
      for (int c = 0; c < f.dk; ++c) dot += f.omega[j * f.dk + c] * x[c];
      const float s = f.favor_scale;
      return expf(s * dot - 0.5f * s * s * x_sq) * f.inv_sqrt_m;
    }
    case FeatureKind::dpfp: {
      // block jb uses roll(r, jb + 1): element i pairs with r[(i - jb - 1) mod 2dk]
      const int r_len = 2 * f.dk, jb = j / r_len, i = j % r_len;
      const int partner = ((i - jb - 1) % r_len + r_len) % r_len;
      return dpfp_r(x, f.dk, i) * dpfp_r(x, f.dk, partner);
    }
  }
  return 0.f;
}

// Sum-normalisation (delta with a non-identity map): divide by the row sum when
// it is positive; a row whose features sum to 0 stays 0.
DFW_HD float sum_normalised(float value, float row_sum) {
  return row_sum > 0.f ? divide_normal(value, row_sum) : value;
}

}  // namespace dfw
