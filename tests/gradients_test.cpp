// The backward contract (docs/MATH.md "Gradients"):
//   - the float64 reference gradient equals central finite differences of the
//     float64 forward for every defined variant (relative L2 <= 1e-6 per tensor);
//   - the forward inside the backward is the reference forward;
//   - every backward form matches the reference gradient within the fp32 limits,
//     at every checkpoint length and gate set.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "backward_impl.hpp"
#include "cpu/recurrent_backward.hpp"
#include "reference_backward.hpp"
#include "test_util.hpp"

namespace dfw {
namespace {

using test::make;

// Every preset and every defined combination, once each, by name.
const std::map<std::string, Variant>& every_defined_variant() {
  static const auto all = [] {
    std::map<std::string, Variant> out;
    std::set<std::string> seen;
    for (const auto& name : preset_names()) {
      const Variant v = parse_variant(name);
      seen.insert(v.spec());
      out.emplace(name, v);
    }
    for (const Variant& v : all_combinations())
      if (v.defined() && seen.insert(v.spec()).second) out.emplace(v.spec(), v);
    return out;
  }();
  return all;
}

std::vector<std::string> every_defined_variant_name() {
  std::vector<std::string> names;
  for (const auto& [name, v] : every_defined_variant()) names.push_back(name);
  return names;
}

std::vector<std::string> every_stateful_variant_name() {
  std::vector<std::string> names;
  for (const auto& [name, v] : every_defined_variant())
    if (v.rule->stateful()) names.push_back(name);
  return names;
}

std::vector<float> random_dy(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> dy(n);
  for (float& x : dy) x = normal(rng);
  return dy;
}

using test::rel_l2;

// Head 0 of a problem in float64, every input a named tensor the test can perturb.
struct Head {
  int64_t T, dk, dv, m;
  std::map<std::string, std::vector<double>> in;  // q k v gate beta gate_v gate_k s0 w b omega

  Head(const Problem& p) : T(p.shape.T), dk(p.shape.dk), dv(p.shape.dv), m(p.m) {
    const HeadView h = p.head(0);
    auto put = [&](const char* name, const float* x, int64_t n) {
      if (x) in[name] = std::vector<double>(x, x + n);
    };
    put("q", h.q, T * dk);
    put("k", h.k, T * dk);
    put("v", h.v, T * dv);
    put("gate", h.gate, T);
    put("beta", h.beta, T);
    put("gate_v", h.gate_v, T * dv);
    put("gate_k", h.gate_k, T * m);
    put("s0", h.s0, dv * m);
    put("w", h.features.w, m * dk);
    put("b", h.features.b, m);
    put("omega", h.features.omega, m * dk);
  }
  const double* at(const char* name) const {
    const auto it = in.find(name);
    return it == in.end() ? nullptr : it->second.data();
  }
  HeadInput<double> input() const {
    return {T,          dk,          dv,       m,        at("q"),  at("k"), at("v"), at("gate"), at("beta"),
            at("gate_v"), at("gate_k"), at("s0"), {at("w"), at("b"), at("omega")}};
  }
};

// dL/d(every input with a gradient) for L = sum(y * dy), and y, by the reference.
struct Result {
  std::vector<double> y;
  std::map<std::string, std::vector<double>> grad;
};

Result reference_backward(const Variant& var, const Head& h, const std::vector<double>& dy, int64_t every = 1) {
  Result r;
  r.y.assign(h.T * h.dv, 0.0);
  for (const auto& [name, x] : h.in)
    if (name != "omega") r.grad[name].assign(x.size(), 0.0);
  auto g = [&r](const char* name) { return r.grad.count(name) ? r.grad[name].data() : nullptr; };
  if (!var.rule->stateful()) {
    softmax_backward_head(h.T, h.dk, h.dv, h.at("q"), h.at("k"), h.at("v"), dy.data(), g("q"), g("k"), g("v"));
    // y by the definition (the FD side reads only y).
    const double scale = 1.0 / std::sqrt(double(h.dk));
    for (int64_t t = 0; t < h.T; ++t) {
      std::vector<double> p(t + 1);
      double mx = -INFINITY, den = 0;
      for (int64_t j = 0; j <= t; ++j) {
        double s = 0;
        for (int64_t c = 0; c < h.dk; ++c) s += h.at("q")[t * h.dk + c] * h.at("k")[j * h.dk + c];
        mx = std::max(mx, p[j] = s * scale);
      }
      for (double& x : p) den += (x = std::exp(x - mx));
      for (int64_t j = 0; j <= t; ++j)
        for (int64_t c = 0; c < h.dv; ++c) r.y[t * h.dv + c] += p[j] / den * h.at("v")[j * h.dv + c];
    }
    return r;
  }
  const int64_t rows = h.dv + (var.normalise ? 1 : 0);
  std::vector<double> work(recurrent_backward_workspace(h.T, h.m, rows, every));
  const HeadGrads<double> out{g("q"), g("k"), g("v"), g("gate"), g("beta"), g("gate_v"), g("gate_k"), g("s0"),
                              {g("w"), g("b")}};
  RecurrentBackward<double>(var, h.T, h.dv, h.m, every, work.data()).run(h.input(), dy.data(), out, r.y.data());
  return r;
}

double loss(const Variant& var, const Head& h, const std::vector<double>& dy) {
  const Result r = reference_backward(var, h, dy);
  double l = 0;
  for (size_t i = 0; i < r.y.size(); ++i) l += r.y[i] * dy[i];
  return l;
}

const Shape kSmall{1, 1, 9, 6, 3};

class EveryVariant : public ::testing::TestWithParam<std::string> {};

// Central differences with step h carry a rounding error of about eps |L| / h per
// element; a gradient below that (s0's, through products of 1e-6 gates) is held
// to the rounding floor, every other to relative L2 <= 1e-6.
TEST_P(EveryVariant, ReferenceGradientEqualsCentralFiniteDifferences) {
  const Variant var = every_defined_variant().at(GetParam());
  double largest = 0;
  for (GateSet gates : {GateSet::uniform_init, GateSet::mixed}) {
    const Problem p = make(var, kSmall, gates, var.rule->stateful());
    const Head head(p);
    const auto dyf = random_dy(head.T * head.dv, 11);
    const std::vector<double> dy(dyf.begin(), dyf.end());
    const Result analytic = reference_backward(var, head, dy);
    ASSERT_FALSE(analytic.grad.empty());
    for (const auto& entry : analytic.grad) {
      const std::string& name = entry.first;  // a lambda below captures it, which C++17 allows no structured binding
      const auto& g = entry.second;
      std::vector<double> fd(g.size());
      double noise2 = 0, fd2 = 0, err2 = 0;
      for (size_t i = 0; i < g.size(); ++i) {
        const double x = head.in.at(name)[i], h = 1e-5 * std::max(1.0, std::fabs(x));
        double largest_loss = 0;
        auto central = [&](double step) {  // (L(x + step) - L(x - step)) / (2 step)
          Head plus = head, minus = head;
          plus.in[name][i] = x + step;
          minus.in[name][i] = x - step;
          const double lp = loss(var, plus, dy), lm = loss(var, minus, dy);
          largest_loss = std::max({largest_loss, std::fabs(lp), std::fabs(lm)});
          return (lp - lm) / (2 * step);
        };
        // Richardson extrapolation of steps h and h/2: truncation O(h^4), which a
        // normaliser near 0 (a signed map's z . phi(q)) needs.
        fd[i] = (4 * central(h / 2) - central(h)) / 3;
        const double noise = 3e-15 * largest_loss / h;
        noise2 += noise * noise;
        fd2 += fd[i] * fd[i];
        err2 += (g[i] - fd[i]) * (g[i] - fd[i]);
      }
      largest = std::max(largest, std::sqrt(fd2));
      EXPECT_LE(std::sqrt(err2), 1e-6 * std::sqrt(fd2) + std::sqrt(noise2))
          << GetParam() << " d" << name << " gates " << gate_set_name(gates) << ": |fd| " << std::sqrt(fd2)
          << ", rounding floor " << std::sqrt(noise2);
    }
  }
  EXPECT_GT(largest, 1e-3) << "all gradients tiny: the check would be vacuous";
}

TEST_P(EveryVariant, ForwardInsideTheBackwardIsTheReferenceForward) {
  const Variant var = every_defined_variant().at(GetParam());
  const Problem p = make(var, {1, 1, 40, 8, 6}, GateSet::uniform_init, var.rule->stateful());
  const Head head(p);
  const std::vector<double> dy(head.T * head.dv, 1.0);
  const Output ref = test::run("reference", var, p);
  // 1e-7: the reference forms its factors in float32 (gated_linear_factors), so
  // gated's 1 - g is rounded once there; times the signed normaliser's factor.
  EXPECT_LE(rel_l2(reference_backward(var, head, dy).y, ref.y), 1e-7 * var.tolerance_factor());
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Gradients, EveryVariant, ::testing::ValuesIn(every_defined_variant_name()), test_name);

// The checkpointed walk equals the walk over every state (C = 1) in float64.
class EveryStatefulVariant : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryStatefulVariant, CheckpointsEveryCTokensGiveTheSameGradient) {
  const Variant var = every_defined_variant().at(GetParam());
  const Problem p = make(var, {1, 1, 23, 4, 3}, GateSet::mixed, true);
  const Head head(p);
  const auto dyf = random_dy(head.T * head.dv, 5);
  const std::vector<double> dy(dyf.begin(), dyf.end());
  const Result all = reference_backward(var, head, dy, 1);
  for (int64_t every : {2, 5, 23, 40}) {
    const Result some = reference_backward(var, head, dy, every);
    for (const auto& [name, g] : all.grad) EXPECT_LE(rel_l2(some.grad.at(name), g), 1e-12) << name << " C=" << every;
  }
}

INSTANTIATE_TEST_SUITE_P(Gradients, EveryStatefulVariant, ::testing::ValuesIn(every_stateful_variant_name()),
                         test_name);


// Every backward form against the reference on a problem of several heads and
// batch elements (w and b summed over the batch), gates including 1e-6 and mixed.
class EveryPresetBackward : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryPresetBackward, EveryCpuBackwardFormMatchesTheReference) {
  const Variant var = parse_variant(GetParam());
  const BackwardImpl* ref_impl = find_backward_impl("reference", "cpu", "fp64");
  ASSERT_NE(ref_impl, nullptr);
  int checked = 0;
  for (GateSet gates : {GateSet::uniform_init, GateSet::tiny, GateSet::mixed, GateSet::ones}) {
    const Problem p = make(var, {2, 3, 37, 16, 12}, gates, var.rule->stateful());
    const auto dy = random_dy(p.v.size() / p.shape.dv * p.shape.dv, 3);
    auto ref_case = ref_impl->prepare(var, p, dy, {});
    ref_case->run();
    const Gradients ref = ref_case->gradients();
    for (const BackwardImpl* impl : all_backward_impls()) {
      if (impl->key().form == "reference" || !impl->unsupported_reason(var).empty()) continue;
      for (int64_t chunk : {1, 8, 37, 64}) {
        auto c = impl->prepare(var, p, dy, {Mode::sequence, chunk});
        c->run();
        const Gradients got = c->gradients();
        const auto ref_tensors = ref.tensors(), got_tensors = got.tensors();
        ASSERT_EQ(got_tensors.size(), ref_tensors.size()) << impl->key().str();
        for (size_t i = 0; i < ref_tensors.size(); ++i) {
          const auto& [name, r] = ref_tensors[i];
          EXPECT_EQ(got_tensors[i].first, name);
          EXPECT_LE(rel_l2(*got_tensors[i].second, *r), var.tolerance_factor() * 1e-4)
              << impl->key().str() << " d" << name << " gates " << gate_set_name(gates) << " C=" << chunk;
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 0) << "no CPU backward form ran";
}

INSTANTIATE_TEST_SUITE_P(Presets, EveryPresetBackward, ::testing::ValuesIn(preset_names()),
                         [](const auto& info) { return info.param; });

TEST(Gradients, UnsupportedBackwardSaysWhy) {
  const BackwardImpl* rec = find_backward_impl("recurrent", "cpu", "fp32");
  ASSERT_NE(rec, nullptr);
  EXPECT_NE(rec->unsupported_reason(parse_variant("softmax")), "");
  EXPECT_EQ(rec->unsupported_reason(parse_variant("dfw")), "");
  EXPECT_EQ(rec->unsupported_reason(parse_variant("delta")), "");
  const BackwardImpl* blocked = find_backward_impl("blocked", "cpu", "fp32");
  ASSERT_NE(blocked, nullptr);
  EXPECT_EQ(blocked->unsupported_reason(parse_variant("softmax")), "");
  EXPECT_NE(blocked->unsupported_reason(parse_variant("dfw")), "");
  const BackwardImpl* chunked = find_backward_impl("chunked", "cpu", "fp32");
  ASSERT_NE(chunked, nullptr);
  EXPECT_EQ(chunked->unsupported_reason(parse_variant("dfw")), "");
  EXPECT_EQ(chunked->unsupported_reason(parse_variant("gated")), "");
  EXPECT_NE(chunked->unsupported_reason(parse_variant("delta")), "");
  EXPECT_NE(chunked->unsupported_reason(parse_variant("softmax")), "");
}

}  // namespace
}  // namespace dfw
