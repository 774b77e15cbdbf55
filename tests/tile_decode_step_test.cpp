// The per-thread state update of the CUDA fast-weight kernel (kernels/rule_math.hpp
// with feature_math.hpp), run on the CPU:
//  - one token split over 32 lanes (columns lane + 32 i) exactly as a warp holds a
//    row, against Rule::step in float64, with gates uniform, exactly 1 and 1e-6;
//  - whole sequences stepped the way the kernel steps them (features per token,
//    rows plus the z row, y = S phi(q) / (z.phi(q) + eps)) against the float64
//    reference, also with q, k, v and y rounded through fp16 / bf16 as the GPU
//    forms store them, within docs/MATH.md's limits for those dtypes.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "feature_math.hpp"
#include "half_convert.hpp"
#include "kernel_kinds.hpp"
#include "rule_math.hpp"
#include "test_util.hpp"

namespace dfw {
namespace {

// One token on one (dv + 1, m) state: 32 emulated lanes, each holding columns
// lane + 32 i of a row, partial dots summed over lanes as the warp shuffle does.
TEST(TileDecodeStep, WarpSplitRowStepMatchesRuleStep) {
  constexpr int kLanes = 32, N = 4;  // m up to 128
  for (const char* spec : {"rule=add", "rule=gated", "rule=delta", "rule=decay"})
    for (GateSet gates : {GateSet::uniform_init, GateSet::ones, GateSet::tiny}) {
      const Variant v = parse_variant(spec);
      const Shape shape{1, 1, 1, 40, 12};  // m = 40: lanes 8..31 hold one column, the rest two
      const Problem p = test::make(v, shape, gates, /*s0=*/true);
      const int64_t dv = shape.dv, m = p.m;
      const HeadView h = p.head(0);
      // float64 reference step
      std::vector<double> S(p.s0.begin(), p.s0.end()), fk(h.k, h.k + m), vt(h.v, h.v + dv);
      std::vector<double> ga, gb;
      TokenGates<double> g;
      if (h.gate) g.g = h.gate[0];
      if (h.beta) g.beta = h.beta[0];
      if (h.gate_v) {
        ga.assign(h.gate_v, h.gate_v + dv);
        gb.assign(h.gate_k, h.gate_k + m);
        g.a = ga.data();
        g.b = gb.data();
      }
      v.rule->step(S.data(), dv, m, fk.data(), vt.data(), g);
      // the kernel's step, lane by lane
      const RuleKind rule = cuda_rule_kind(v).value();
      const float* fq = h.q;  // identity map
      for (int64_t r = 0; r < dv; ++r) {
        float s[kLanes][N];
        for (int l = 0; l < kLanes; ++l)
          for (int i = 0; i < N; ++i) s[l][i] = l + 32 * i < m ? p.s0[r * m + l + 32 * i] : 0.f;
        auto lane_sum = [&](auto part) {
          float total = 0.f;
          for (int l = 0; l < kLanes; ++l) total += part(l);
          return total;
        };
        const float pred = lane_sum([&](int l) { return segment_dot(s[l], h.k, l, kLanes, int(m)); });
        const RowCoefficients c = row_coefficients(rule, h.v[r], h.gate ? h.gate[0] : 1.f,
                                                   h.beta ? h.beta[0] : 1.f, h.gate_v ? h.gate_v[r] : 1.f,
                                                   rule == RuleKind::delta ? pred : 0.f);
        for (int l = 0; l < kLanes; ++l) segment_update(s[l], c, h.gate_k, h.k, l, kLanes, int(m));
        double y_ref = 0;
        for (int64_t col = 0; col < m; ++col) {
          EXPECT_NEAR(s[col % 32][col / 32], S[r * m + col], 1e-5 * (1 + std::abs(S[r * m + col])))
              << spec << " " << gate_set_name(gates) << " row " << r << " col " << col;
          y_ref += S[r * m + col] * fq[col];
        }
        const float y = lane_sum([&](int l) { return segment_dot(s[l], fq, l, kLanes, int(m)); });
        EXPECT_NEAR(y, y_ref, 1e-4 * (1 + std::abs(y_ref))) << spec;
      }
    }
}

TEST(TileDecodeStep, GateOneIsExactAndTinyGatesStayFinite) {
  float s[1] = {3.f};
  const float one = 1.f, tiny = 1e-6f, fk = 0.5f;
  segment_update(s, row_coefficients(RuleKind::decay, 0.f, 1.f, 1.f, one, 0.f), &one, &fk, 0, 1, 1);
  EXPECT_EQ(s[0], 3.f);  // alpha = beta = 1, v = 0: the state is kept bit for bit
  segment_update(s, row_coefficients(RuleKind::gated, 2.f, one, 1.f, 1.f, 0.f), nullptr, &fk, 0, 1, 1);
  EXPECT_EQ(s[0], 3.f);  // g = 1 writes nothing
  for (int t = 0; t < 1000; ++t)
    segment_update(s, row_coefficients(RuleKind::decay, 1.f, 1.f, 1.f, tiny, 0.f), &tiny, &fk, 0, 1, 1);
  EXPECT_TRUE(std::isfinite(s[0]));
  EXPECT_NEAR(s[0], 0.5f, 1e-6f);  // decayed to the last write
}

// The kernel's token loop for one (b, h), one lane per row (stride 1), with q, k,
// v and y rounded through the storage type T.
template <class Storage>
Output emulate_kernel(const Variant& v, const Problem& p) {
  constexpr int N = 64;  // m <= 64 in these tests
  const Shape& sh = p.shape;
  const int64_t BH = sh.B * sh.H, T = sh.T, dk = sh.dk, dv = sh.dv, m = p.m;
  const int64_t rows = dv + (v.normalise ? 1 : 0);
  const RuleKind rule = cuda_rule_kind(v).value();
  const FeatureKind phi = cuda_feature_kind(v).value();
  Output out;
  out.y.resize(BH * T * dv);
  out.state.resize(BH * dv * m);
  if (v.normalise) out.z.resize(BH * m);
  for (int64_t bh = 0; bh < BH; ++bh) {
    const HeadView h = p.head(bh);
    const FeatureSpec f = head_feature_spec(phi, int(dk), int(m), h.features.w, h.features.b, h.features.omega, 0);
    struct Row {
      float s[N];
    };
    std::vector<Row> S(rows);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < N; ++c) S[r].s[c] = (h.s0 && r < dv && c < m) ? h.s0[r * m + c] : 0.f;
    for (int64_t t = 0; t < T; ++t) {
      float fx[2][N], x[2][256];
      for (int w = 0; w < 2; ++w) {
        const float* src = (w == 0 ? h.q : h.k) + t * dk;
        float sq = 0.f, sum = 0.f;
        for (int64_t c = 0; c < dk; ++c) {
          x[w][c] = round_to<Storage>(src[c]);
          sq += x[w][c] * x[w][c];
        }
        for (int j = 0; j < m; ++j) sum += fx[w][j] = feature_at(f, x[w], sq, j);
        if (v.sum_normalise)
          for (int j = 0; j < m; ++j) fx[w][j] = sum_normalised(fx[w][j], sum);
      }
      std::vector<float> num(rows);
      for (int64_t r = 0; r < rows; ++r) {
        const bool z = r == dv;
        num[r] = fast_weight_row_step(rule, S[r].s, fx[1], fx[0], h.gate_k ? h.gate_k + t * m : nullptr,
                                      z ? 1.f : round_to<Storage>(h.v[t * dv + r]), h.gate ? h.gate[t] : 1.f,
                                      h.beta ? h.beta[t] : 1.f, h.gate_v && !z ? h.gate_v[t * dv + r] : 1.f, 0, 1,
                                      int(m), [](float x) { return x; });
      }
      for (int64_t r = 0; r < dv; ++r) {
        float y = num[r];
        if (v.normalise) y /= num[dv] + float(kNormEps);
        out.y[(bh * T + t) * dv + r] = round_to<Storage>(y);
      }
    }
    for (int64_t r = 0; r < dv; ++r)
      for (int64_t c = 0; c < m; ++c) out.state[(bh * dv + r) * m + c] = S[r].s[c];
    if (v.normalise)
      for (int64_t c = 0; c < m; ++c) out.z[bh * m + c] = S[dv].s[c];
  }
  return out;
}

struct SequenceCase {
  std::string variant;
  GateSet gates;
};

void PrintTo(const SequenceCase& c, std::ostream* os) { *os << c.variant << " gates " << gate_set_name(c.gates); }

class KernelSequence : public ::testing::TestWithParam<SequenceCase> {};

TEST_P(KernelSequence, MatchesReferenceInEveryStorageType) {
  const Variant v = parse_variant(GetParam().variant);
  const Problem p = test::make(v, {2, 3, 41, 16, 12}, GetParam().gates, /*s0=*/true);
  const Output ref = test::run("reference", v, p);
  const double f = v.tolerance_factor();
  const CaseErrors e32 = compare_outputs(emulate_kernel<float>(v, p), ref);
  const CaseErrors e16 = compare_outputs(emulate_kernel<Fp16>(v, p), ref);
  const CaseErrors eb16 = compare_outputs(emulate_kernel<Bf16>(v, p), ref);
  test::expect_storage_errors_within_limits(e32, e16, eb16, f);
}

INSTANTIATE_TEST_SUITE_P(
    Presets, KernelSequence,
    ::testing::Values(SequenceCase{"linear", GateSet::uniform_init}, SequenceCase{"performer", GateSet::uniform_init},
                      SequenceCase{"t2r", GateSet::uniform_init}, SequenceCase{"gated", GateSet::uniform_init},
                      SequenceCase{"gated", GateSet::tiny}, SequenceCase{"delta", GateSet::uniform_init},
                      SequenceCase{"delta", GateSet::ones}, SequenceCase{"fwp", GateSet::uniform_init},
                      SequenceCase{"dfw", GateSet::uniform_init}, SequenceCase{"dfw", GateSet::ones},
                      SequenceCase{"dfw", GateSet::tiny}, SequenceCase{"dfw", GateSet::mixed},
                      SequenceCase{"rule=decay,phi=elu1", GateSet::mixed},
                      SequenceCase{"rule=gated,phi=favor,norm=on", GateSet::mixed},
                      SequenceCase{"rule=add,phi=identity,norm=on", GateSet::uniform_init}),
    [](const auto& info) {
      std::string name = info.param.variant + "_" + gate_set_name(info.param.gates);
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return name;
    });

}  // namespace
}  // namespace dfw
