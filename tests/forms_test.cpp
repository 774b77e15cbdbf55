// Every CPU form against the float64 reference, and the identities between forms:
// chunked == recurrent, decode steps == prefill, decay with gates 1 == add.
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.hpp"

namespace dfw {
namespace {

using test::make;
using test::run;

const Shape kOdd{2, 3, 45, 16, 12};  // dv != m, odd B*H, T not a multiple of the chunk

class EveryPreset : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryPreset, EverySupportedCpuFormMatchesReference) {
  const Variant v = parse_variant(GetParam());
  for (bool s0 : {false, true}) {
    if (s0 && !v.rule->stateful()) continue;
    const Problem p = make(v, kOdd, GateSet::uniform_init, s0);
    const Output ref = run("reference", v, p);
    int checked = 0;
    for (const Impl* i : all_impls()) {
      const FormKey k = i->key();
      if (k.backend != "cpu" || k.form == "reference" || !i->unsupported_reason(v, Mode::sequence).empty()) continue;
      const CaseErrors e = compare_outputs(run_once(*i, v, p, {Mode::sequence, 16}), ref);
      EXPECT_TRUE(e.finite()) << k.str();
      EXPECT_LT(e.y.rel_l2, 1e-4) << k.str() << " s0=" << s0;
      EXPECT_LT(e.y.max_abs, 10 * 1e-4) << k.str() << " s0=" << s0;
      EXPECT_LT(e.state.rel_l2, 1e-4) << k.str() << " s0=" << s0;
      EXPECT_LT(e.state.max_abs, 10 * 1e-4) << k.str() << " s0=" << s0;
      ++checked;
    }
    EXPECT_GE(checked, 2) << "a preset has at least a prefill form and the decode form";
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, EveryPreset, ::testing::ValuesIn(preset_names()),
                         [](const auto& info) { return info.param; });

TEST(Forms, ReferenceOutputIsNotTrivial) {
  // Guards the comparisons above against passing on all-zero outputs.
  for (const auto& name : preset_names()) {
    const Variant v = parse_variant(name);
    const Output ref = run("reference", v, make(v, kOdd));
    double norm = 0;
    for (double x : ref.y) norm += x * x;
    EXPECT_GT(norm, 1e-3) << name;
  }
}

TEST(Forms, ChunkedEqualsRecurrentAcrossChunkSizes) {
  for (const char* spec : {"dfw", "gated", "linear", "rule=decay,phi=elu1", "rule=gated,phi=dpfp"}) {
    const Variant v = parse_variant(spec);
    for (GateSet g : {GateSet::uniform_init, GateSet::mixed, GateSet::tiny, GateSet::slow}) {
      const Problem p = make(v, {1, 2, 300, 16, 8}, g, true);
      const Output rec = run("recurrent", v, p);
      for (int64_t chunk : {1, 3, 16, 17, 64, 100, 256}) {
        const CaseErrors e = compare_outputs(run("chunked", v, p, {Mode::sequence, chunk}), rec);
        EXPECT_TRUE(e.finite()) << spec << " C=" << chunk;
        EXPECT_LT(e.y.rel_l2, 2e-5) << spec << " C=" << chunk << " gates=" << gate_set_name(g);
        EXPECT_LT(e.y.max_abs, 10 * 2e-5) << spec << " C=" << chunk << " gates=" << gate_set_name(g);
        EXPECT_LT(e.state.rel_l2, 2e-5) << spec << " C=" << chunk << " gates=" << gate_set_name(g);
        EXPECT_LT(e.state.max_abs, 10 * 2e-5) << spec << " C=" << chunk << " gates=" << gate_set_name(g);
      }
    }
  }
}

TEST(Forms, ChunkedDecayStaysAccurateWithTinyGatesAndLongChunks) {
  // docs/MATH.md: gates of 1e-6 and chunks of 256 stay finite and within the fp32 limit.
  const Variant v = parse_variant("dfw");
  for (GateSet g : {GateSet::tiny, GateSet::mixed}) {
    const Problem p = make(v, {1, 1, 700, 32, 32}, g);
    const CaseErrors e = compare_outputs(run("chunked", v, p, {Mode::sequence, 256}), run("reference", v, p));
    EXPECT_TRUE(e.finite());
    EXPECT_LT(e.y.rel_l2, 1e-4) << gate_set_name(g);
    EXPECT_LT(e.y.max_abs, 10 * 1e-4) << gate_set_name(g);
  }
}

// Runs T one-token decode steps, each from the state the previous step returned.
Output chain_decode_steps(const Variant& v, const Problem& full) {
  const Shape s = full.shape;
  const int64_t BH = s.B * s.H;
  Output out;
  out.y.resize(BH * s.T * s.dv);
  std::vector<float> state = full.s0.empty() ? std::vector<float>(BH * s.dv * full.m, 0.f) : full.s0;
  for (int64_t t = 0; t < s.T; ++t) {
    Problem step = test::slice_tokens(full, t, 1);
    step.s0 = state;
    const Output o = run("decode", v, step, {Mode::decode_step, 64});
    for (int64_t bh = 0; bh < BH; ++bh)
      std::copy_n(o.y.begin() + bh * s.dv, s.dv, out.y.begin() + (bh * s.T + t) * s.dv);
    state.assign(o.state.begin(), o.state.end());
    out.state = o.state;
  }
  return out;
}

TEST(Forms, DecodeStepsEqualPrefill) {
  for (const char* spec : {"dfw", "delta", "fwp", "performer"}) {
    const Variant v = parse_variant(spec);
    if (v.normalise) continue;  // the chained decode_step carries S only; z is covered below
    for (GateSet g : {GateSet::uniform_init, GateSet::slow}) {
      const Problem p = make(v, {2, 2, 40, 16, 12}, g, true);
      const CaseErrors e = compare_outputs(chain_decode_steps(v, p), run("recurrent", v, p));
      EXPECT_LT(e.y.rel_l2, 1e-5) << spec << " gates=" << gate_set_name(g);
      EXPECT_LT(e.y.max_abs, 10 * 1e-5) << spec << " gates=" << gate_set_name(g);
      EXPECT_LT(e.state.rel_l2, 1e-5) << spec << " gates=" << gate_set_name(g);
      EXPECT_LT(e.state.max_abs, 10 * 1e-5) << spec << " gates=" << gate_set_name(g);
    }
  }
  // Normalised variants and softmax: the decode form over a whole sequence == prefill.
  for (const char* spec : {"linear", "gated", "t2r"}) {
    const Variant v = parse_variant(spec);
    const Problem p = make(v, {2, 2, 40, 16, 12});
    const CaseErrors e = compare_outputs(run("decode", v, p), run("chunked", v, p));
    EXPECT_LT(e.y.rel_l2, 1e-5) << spec;
    EXPECT_LT(e.state.rel_l2, 1e-5) << spec;
    EXPECT_LT(e.y.max_abs, 10 * 1e-5) << spec;
    EXPECT_LT(e.state.rel_l2, 1e-5) << spec;
    EXPECT_LT(e.state.max_abs, 10 * 1e-5) << spec;
  }
}

TEST(Forms, SoftmaxDecodeStepAgainstCacheEqualsPrefillRow) {
  const Variant v = parse_variant("softmax");
  const Problem p = make(v, {2, 3, 50, 16, 12});
  const Output prefill = run("blocked", v, p);
  const Output step = run("decode", v, p, {Mode::decode_step, 64});  // cache holds 49 tokens
  ASSERT_EQ(step.y.size(), std::size_t(6 * 12));
  std::vector<double> last;
  for (int64_t bh = 0; bh < 6; ++bh)
    last.insert(last.end(), prefill.y.begin() + (bh * 50 + 49) * 12, prefill.y.begin() + (bh * 50 + 50) * 12);
  EXPECT_LT(compare(step.y, last).rel_l2, 1e-6);
}

TEST(Forms, DecayWithAllGatesOneEqualsAdd) {
  for (const char* phi : {"identity", "elu1"}) {
    const Variant decay = parse_variant(std::string("rule=decay,phi=") + phi);
    const Variant add = parse_variant(std::string("rule=add,phi=") + phi);
    const Shape s{1, 2, 60, 16, 16};
    const Problem pd = make(decay, s, GateSet::ones), pa = make(add, s);
    ASSERT_EQ(pd.q, pa.q);  // the generator draws q, k, v first: same inputs
    for (const char* form : {"reference", "recurrent", "chunked", "decode"}) {
      const CaseErrors e = compare_outputs(run(form, decay, pd), run(form, add, pa));
      EXPECT_LT(e.y.rel_l2, 1e-6) << phi << " " << form;
      EXPECT_LT(e.state.rel_l2, 1e-6) << phi << " " << form;
      EXPECT_LT(e.y.max_abs, 10 * 1e-6) << phi << " " << form;
      EXPECT_LT(e.state.rel_l2, 1e-6) << phi << " " << form;
      EXPECT_LT(e.state.max_abs, 10 * 1e-6) << phi << " " << form;
    }
  }
}

TEST(Forms, NormalisedOutputDividesByNormaliser) {
  // linear (elu1 + 1, add, normalised) over 20 tokens, written out:
  //   y_t = sum_{j<=t} v_j (phi(k_j).phi(q_t)) / (sum_{j<=t} phi(k_j).phi(q_t) + eps),  z = sum_j phi(k_j).
  const Variant v = parse_variant("linear");
  const int64_t T = 20, d = 8, dv = 4;
  const Problem p = make(v, {1, 1, T, d, dv});
  auto phi = [](const float* x, int64_t j) { return x[j] > 0 ? x[j] + 1.0 : std::exp(double(x[j])); };
  std::vector<double> y(T * dv), z(d, 0.0);
  for (int64_t t = 0; t < T; ++t) {
    double den = kNormEps;
    std::vector<double> num(dv, 0.0);
    for (int64_t j = 0; j <= t; ++j) {
      double a = 0;
      for (int64_t c = 0; c < d; ++c) a += phi(p.k.data() + j * d, c) * phi(p.q.data() + t * d, c);
      den += a;
      for (int64_t r = 0; r < dv; ++r) num[r] += p.v[j * dv + r] * a;
    }
    for (int64_t r = 0; r < dv; ++r) y[t * dv + r] = num[r] / den;
  }
  for (int64_t j = 0; j < T; ++j)
    for (int64_t c = 0; c < d; ++c) z[c] += phi(p.k.data() + j * d, c);
  for (const char* form : {"reference", "recurrent", "chunked", "decode"}) {
    const Output o = run(form, v, p);
    const ErrorStats ey = compare(o.y, y), ez = compare(o.z, z);
    EXPECT_LT(ey.rel_l2, 1e-5) << form;
    EXPECT_LT(ey.max_abs, 1e-4) << form;
    EXPECT_LT(ez.rel_l2, 1e-5) << form;
    EXPECT_LT(ez.max_abs, 1e-4) << form;
  }
}

// The `dfwbench check` table itself: every preset and combination of the CPU forms, all
// PASS or UNSUPPORTED, one test per pass (forward forms, backward forms) so that ctest
// runs the two side by side (each is minutes under the sanitizers). The CUDA forms'
// table is scripts/emu_test.sh's (emulated device) and gpu_check.sh's (a GPU): on the
// emulated device every combination takes ~15 CPU minutes, too long for one unit test.
void expect_full_check_passes(const char* pass) {
  std::vector<std::string> args = {"--no-distance", "--backend", "cpu", "--pass", pass};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  testing::internal::CaptureStdout();
  const int rc = run_check(int(argv.size()), argv.data());
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 0) << out.substr(out.size() > 4000 ? out.size() - 4000 : 0);
  EXPECT_NE(out.find(" 0 failed"), std::string::npos);
  EXPECT_EQ(out.find(" 0 passed"), std::string::npos) << "no row of the " << pass << " pass ran";
}

TEST(Check, FullForwardCheckTablePasses) { expect_full_check_passes("fwd"); }

TEST(Check, FullBackwardCheckTablePasses) { expect_full_check_passes("bwd"); }

}  // namespace
}  // namespace dfw
