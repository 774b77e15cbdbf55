// The online-softmax tile update and the flash-decoding combine of
// kernels/softmax_math.hpp against a float64 softmax computed directly: tiles of
// 32 keys as a warp takes them, warps merged as a block merges them, splits
// combined as the combine kernel does; score ranges that would overflow exp().
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "half_convert.hpp"
#include "softmax_math.hpp"
#include "test_util.hpp"

namespace dfw {
namespace {

struct Keys {
  std::vector<float> score;  // (n)
  std::vector<float> v;      // (n, dv)
};

Keys random_keys(int n, int dv, float spread, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  Keys k;
  for (int j = 0; j < n; ++j) k.score.push_back(spread * nd(rng));
  for (int i = 0; i < n * dv; ++i) k.v.push_back(nd(rng));
  return k;
}

std::vector<double> direct_softmax(const Keys& k, int dv) {
  const int n = int(k.score.size());
  double mx = -INFINITY, sum = 0;
  for (float s : k.score) mx = std::max(mx, double(s));
  std::vector<double> y(dv, 0.0);
  for (int j = 0; j < n; ++j) {
    const double p = std::exp(double(k.score[j]) - mx);
    sum += p;
    for (int c = 0; c < dv; ++c) y[c] += p * k.v[j * dv + c];
  }
  for (double& x : y) x /= sum;
  return y;
}

// One partial record [max, sum, acc(dv)] over keys [begin, end): tiles of 32 as in
// flash_decode_split_kernel, each of `warps` running states taking every warps-th tile,
// then merged in warp order.
std::vector<float> split_partial(const Keys& k, int dv, int begin, int end, int warps) {
  std::vector<OnlineSoftmax> st(warps);
  std::vector<std::vector<float>> acc(warps, std::vector<float>(dv, 0.f));
  for (int j0 = begin, tile = 0; j0 < end; j0 += 32, ++tile) {
    const int w = tile % warps, j1 = std::min(end, j0 + 32);
    float tile_max = -INFINITY;
    for (int j = j0; j < j1; ++j) tile_max = std::max(tile_max, k.score[j]);
    const float factor = online_softmax_rescale(st[w], tile_max);
    for (float& a : acc[w]) a *= factor;
    for (int j = j0; j < j1; ++j) {
      const float p = online_softmax_weight(st[w], k.score[j]);
      st[w].sum += p;
      for (int c = 0; c < dv; ++c) acc[w][c] += p * k.v[j * dv + c];
    }
  }
  OnlineSoftmax total = st[0];
  std::vector<float> a = acc[0];
  for (int w = 1; w < warps; ++w) {
    const MergeFactors f = online_softmax_merge(total, st[w]);
    for (int c = 0; c < dv; ++c) a[c] = a[c] * f.a + acc[w][c] * f.b;
  }
  std::vector<float> rec(partial_stride(dv));
  rec[0] = total.max;
  rec[1] = total.sum;
  std::copy(a.begin(), a.end(), rec.begin() + 2);
  return rec;
}

double rel_l2(const std::vector<float>& x, const std::vector<double>& ref) {
  double d = 0, r = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    d += (x[i] - ref[i]) * (x[i] - ref[i]);
    r += ref[i] * ref[i];
  }
  return std::sqrt(d / r);
}

std::vector<float> flash_decode(const Keys& k, int dv, int split_len) {
  const int n = int(k.score.size());
  std::vector<float> partials;
  int splits = 0;
  for (int b = 0; b < n; b += split_len, ++splits) {
    const auto rec = split_partial(k, dv, b, std::min(n, b + split_len), 4);
    partials.insert(partials.end(), rec.begin(), rec.end());
  }
  std::vector<float> y(dv);
  for (int c = 0; c < dv; ++c) y[c] = combine_partials(partials.data(), splits, dv, c);
  return y;
}

TEST(TileSoftmax, OnlineTilesAndSplitsMatchDirectSoftmax) {
  const int dv = 24;
  for (int n : {1, 7, 32, 33, 200, 1025})
    for (int split_len : {128, 256, 1 << 20}) {
      const Keys k = random_keys(n, dv, 2.f, unsigned(n));
      const auto y = flash_decode(k, dv, split_len);
      EXPECT_LT(rel_l2(y, direct_softmax(k, dv)), 1e-5) << "n=" << n << " split=" << split_len;
    }
}

TEST(TileSoftmax, HugeScoreRangesStayFinite) {
  // Scores spread over +-400: exp() of a raw score overflows float; shifted ones never do.
  const int dv = 8;
  const Keys k = random_keys(300, dv, 200.f, 11);
  const auto y = flash_decode(k, dv, 128);
  for (float x : y) EXPECT_TRUE(std::isfinite(x));
  EXPECT_LT(rel_l2(y, direct_softmax(k, dv)), 1e-5);
}

TEST(TileSoftmax, EmptyWarpStatesMergeAsNothing) {
  OnlineSoftmax a, b;  // both empty
  MergeFactors f = online_softmax_merge(a, b);
  EXPECT_EQ(f.a, 0.f);
  EXPECT_EQ(f.b, 0.f);
  EXPECT_EQ(a.sum, 0.f);
  OnlineSoftmax c{2.f, 3.f};
  f = online_softmax_merge(c, b);  // an empty state leaves c as it was
  EXPECT_EQ(c.max, 2.f);
  EXPECT_EQ(c.sum, 3.f);
  EXPECT_EQ(f.a, 1.f);
  EXPECT_EQ(f.b, 0.f);
}

TEST(TileSoftmax, RescaleOfAFirstTileZeroesTheEmptyState) {
  OnlineSoftmax st;
  EXPECT_EQ(online_softmax_rescale(st, 5.f), 0.f);
  EXPECT_EQ(st.max, 5.f);
  EXPECT_EQ(online_softmax_weight(st, 5.f), 1.f);
  st.sum = 1.f;
  const float f = online_softmax_rescale(st, 6.f);
  EXPECT_FLOAT_EQ(f, std::exp(-1.f));
  EXPECT_FLOAT_EQ(st.sum, std::exp(-1.f));
}

// The causal tile loop of flash_prefill_kernel for one head: 64-query x 64-key tiles
// up to the diagonal, scores masked past the query, the weights P rounded to the
// tile type before both P V and the row sum, O rescaled by the online factor.
template <class Storage>
std::vector<double> emulate_prefill(const Problem& p, int64_t bh) {
  const int64_t T = p.shape.T, dk = p.shape.dk, dv = p.shape.dv, kTile = 64;
  const float* q = p.q.data() + bh * T * dk;
  const float* k = p.k.data() + bh * T * dk;
  const float* v = p.v.data() + bh * T * dv;
  const float scale = 1.f / std::sqrt(float(dk));
  std::vector<double> y(T * dv);
  for (int64_t i0 = 0; i0 < T; i0 += kTile)
    for (int64_t i = i0; i < std::min(T, i0 + kTile); ++i) {
      OnlineSoftmax st;
      std::vector<float> o(dv, 0.f);
      for (int64_t j0 = 0; j0 < std::min(T, i0 + kTile); j0 += kTile) {
        float s[64], tile_max = -INFINITY;
        for (int64_t c = 0; c < kTile; ++c) {
          const int64_t j = j0 + c;
          float dot = 0.f;
          if (j <= i && j < T)
            for (int64_t x = 0; x < dk; ++x) dot += round_to<Storage>(q[i * dk + x]) * round_to<Storage>(k[j * dk + x]);
          s[c] = (j <= i && j < T) ? dot * scale : -INFINITY;
          tile_max = std::max(tile_max, s[c]);
        }
        const float factor = online_softmax_rescale(st, tile_max);
        float sum = 0.f;
        std::vector<float> pv(dv, 0.f);
        for (int64_t c = 0; c < kTile; ++c) {
          const float w = round_to<Storage>(online_softmax_weight(st, s[c]));
          sum += w;
          if (j0 + c < T)
            for (int64_t r = 0; r < dv; ++r) pv[r] += w * round_to<Storage>(v[(j0 + c) * dv + r]);
        }
        st.sum += sum;
        for (int64_t r = 0; r < dv; ++r) o[r] = o[r] * factor + pv[r];
      }
      for (int64_t r = 0; r < dv; ++r) y[i * dv + r] = round_to<Storage>(o[r] / st.sum);
    }
  return y;
}

TEST(TileSoftmax, CausalPrefillTilesMatchReferenceInEveryStorageType) {
  const Variant v = parse_variant("softmax");
  const Problem p = test::make(v, {1, 2, 130, 32, 24});  // three query tiles, the last one of 2 rows
  const Output ref = test::run("reference", v, p);
  const int64_t per_head = p.shape.T * p.shape.dv;
  auto head_ref = [&](int64_t bh) {
    return std::vector<double>(ref.y.begin() + bh * per_head, ref.y.begin() + (bh + 1) * per_head);
  };
  for (int64_t bh = 0; bh < 2; ++bh) {
    const ErrorStats e32 = compare(emulate_prefill<float>(p, bh), head_ref(bh));
    const ErrorStats e16 = compare(emulate_prefill<Fp16>(p, bh), head_ref(bh));
    const ErrorStats eb16 = compare(emulate_prefill<Bf16>(p, bh), head_ref(bh));
    EXPECT_LT(e32.rel_l2, rel_l2_limit("fp32"));
    EXPECT_LT(e16.rel_l2, rel_l2_limit("fp16"));
    EXPECT_LT(e16.max_abs, max_abs_limit("fp16"));
    EXPECT_LT(eb16.rel_l2, rel_l2_limit("bf16"));
    EXPECT_LT(eb16.max_abs, max_abs_limit("bf16"));
  }
}

}  // namespace
}  // namespace dfw
