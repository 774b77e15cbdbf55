// The per-tile gate arithmetic of the CUDA chunked prefill (kernels/chunk_math.hpp),
// run on the CPU:
//  - sub-chunk prefix / suffix exponentials and span sums against float64 sums of
//    logs; gate 1 exact, gates 1e-6 finite;
//  - diagonal running-product scores and values against a float64 pairwise sum;
//  - a whole chunked computation assembled from those functions in the kernel's
//    phase order and padding (chunks of C, sub-chunks of 16, np / mp / rp rounded
//    up to 16, MMA operands rounded to the storage type, TF32 for the incoming
//    state product) against the float64 reference, for add, gated, decay, with
//    and without normalisation, gates uniform, exactly 1, 1e-6 and mixed, T not a
//    multiple of the chunk, chunks not a multiple of 16, within docs/MATH.md's limits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <ostream>
#include <vector>

#include "chunk_math.hpp"
#include "feature_math.hpp"
#include "half_convert.hpp"
#include "kernel_kinds.hpp"
#include "test_util.hpp"

namespace dfw {
namespace {

TEST(TileChunk, SubChunkColumnMatchesFloat64LogSums) {
  const float gates[] = {0.9f, 1e-6f, 1.f, 0.5f, 0.999f, 1e-6f, 0.3f, 1.f, 0.7f, 0.01f, 1.f};
  for (int len : {1, 7, 11}) {
    const SubChunkColumn s = sub_chunk_column(gates, 1, len);
    double total = 0;
    for (int i = 0; i < len; ++i) total += std::log(double(gates[i]));
    EXPECT_NEAR(s.log_total, total, 1e-5 * std::abs(total) + 1e-6);
    for (int i = 0; i < len; ++i) {
      double pre = 0, suf = 0;
      for (int l = 0; l <= i; ++l) pre += std::log(double(gates[l]));
      for (int l = i + 1; l < len; ++l) suf += std::log(double(gates[l]));
      EXPECT_NEAR(s.ep[i], std::exp(pre), 1e-5 * std::exp(pre) + 1e-30) << len << " " << i;
      EXPECT_NEAR(s.es[i], std::exp(suf), 1e-5 * std::exp(suf) + 1e-30) << len << " " << i;
      EXPECT_LE(s.ep[i], 1.f);
      EXPECT_LE(s.es[i], 1.f);
    }
  }
}

TEST(TileChunk, GateOneIsExactAndTinyGatesStayFinite) {
  std::vector<float> ones(kChunkSub, 1.f), tiny(kChunkSub, 1e-6f);
  const SubChunkColumn s1 = sub_chunk_column(ones.data(), 1, kChunkSub);
  EXPECT_EQ(s1.log_total, 0.f);
  for (int i = 0; i < kChunkSub; ++i) {
    EXPECT_EQ(s1.ep[i], 1.f);
    EXPECT_EQ(s1.es[i], 1.f);
  }
  const SubChunkColumn s2 = sub_chunk_column(tiny.data(), 1, kChunkSub);
  EXPECT_TRUE(std::isfinite(s2.log_total));
  for (int i = 0; i < kChunkSub; ++i) EXPECT_TRUE(std::isfinite(s2.ep[i]) && std::isfinite(s2.es[i]));
  EXPECT_EQ(s2.es[kChunkSub - 1], 1.f);
  const float totals[] = {s2.log_total, s2.log_total, s2.log_total, s2.log_total};
  EXPECT_EQ(log_total_before(totals, 1, 0), 0.f);
  EXPECT_EQ(log_total_between(totals, 1, 2, 3), 0.f);
  EXPECT_EQ(log_total_after(totals, 1, 3, 4), 0.f);
  EXPECT_FLOAT_EQ(log_total_after(totals, 1, -1, 4), 4 * s2.log_total);
  EXPECT_FLOAT_EQ(log_total_between(totals, 1, 0, 3), 2 * s2.log_total);
  EXPECT_EQ(std::exp(log_total_after(totals, 1, -1, 4)), 0.f);  // underflows to 0, never NaN
}

// Diagonal sub-chunk: scores and values from the running products against float64.
TEST(TileChunk, DiagonalRunningProductsMatchPairwiseFloat64) {
  constexpr int len = 13, m = 40, ld = 48, lanes = 32, N = 2;
  std::vector<float> Q(len * ld), K(len * ld), B(len * ld), A(len * ld), V(len * ld);
  for (int i = 0; i < len * ld; ++i) {
    Q[i] = std::sin(0.7f * i);
    K[i] = std::cos(0.3f * i);
    B[i] = (i % 7 == 0) ? 1e-6f : 0.5f + 0.5f * std::abs(std::sin(1.3f * i));
    A[i] = (i % 5 == 0) ? 1.f : 0.2f + 0.8f * std::abs(std::cos(0.9f * i));
    V[i] = std::sin(0.11f * i + 1.f);
  }
  // D: one lane owning every column (N = 48 >= m); W: 32 emulated lanes (columns
  // lane + 32 u), each lane's partials summed over the lanes as the warp shuffle does.
  std::vector<float> D(len * kChunkSub, 0.f), W(len * kChunkSub, 0.f);
  for (int j = 0; j < len; ++j) {
    diag_scores_for_key<48>(Q.data(), K.data(), B.data(), ld, j, len, m, 0, 1, [](float x) { return x; },
                            D.data() + j, kChunkSub);
    for (int lane = 0; lane < lanes; ++lane) {
      int i = j;
      float lane0_out[len * kChunkSub];  // lane 0 writes its (zero) sums here
      diag_scores_for_key<N>(Q.data(), K.data(), B.data(), ld, j, len, m, lane, lanes,
                             [&](float part) {
                               W[i++ * kChunkSub + j] += part;
                               return 0.f;
                             },
                             lane0_out + j, kChunkSub);
    }
  }
  for (int i = 0; i < len; ++i) {
    for (int j = 0; j <= i; ++j) {
      double s = 0;
      for (int c = 0; c < m; ++c) {
        double g = 1;
        for (int l = j + 1; l <= i; ++l) g *= B[l * ld + c];
        s += double(Q[i * ld + c]) * K[j * ld + c] * g;
      }
      EXPECT_NEAR(D[i * kChunkSub + j], s, 1e-5 * (1 + std::abs(s))) << i << " " << j;
      EXPECT_NEAR(W[i * kChunkSub + j], s, 1e-5 * (1 + std::abs(s))) << i << " " << j;
    }
    for (int r = 0; r < m; ++r) {
      double y = 0;
      for (int j = 0; j <= i; ++j) {
        double g = 1;
        for (int l = j + 1; l <= i; ++l) g *= A[l * ld + r];
        y += double(D[i * kChunkSub + j]) * g * V[j * ld + r];
      }
      EXPECT_NEAR(diag_value(D.data() + i * kChunkSub, A.data(), V.data(), ld, i, r), y, 1e-5 * (1 + std::abs(y)));
    }
  }
}

// Rounding of the MMA operands: E = the storage type (float: none); TF32 for the
// incoming-state product (round to nearest, ties away: cvt.rna.tf32.f32).
template <class Storage>
float mma_round(float x) {
  return round_to<Storage>(x);
}
template <class Storage>
float tf32_round(float x) {
  if (std::is_same<Storage, float>::value) return x;
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &u, 4);
  return x;
}

// The kernel's chunk loop for every (b, h), phase by phase with the kernel's
// shared-memory layout and padding; products as plain loops.
template <class Storage>
Output emulate_chunked(const Variant& v, const Problem& p, int chunk) {
  const Shape& sh = p.shape;
  const int BH = int(sh.B * sh.H), T = int(sh.T), dk = int(sh.dk), dv = int(sh.dv), m = int(p.m);
  const int rows = dv + (v.normalise ? 1 : 0);
  const RuleKind rule = cuda_rule_kind(v).value();
  const int C = chunk < T ? chunk : T;
  const int np = (C + 15) / 16 * 16, mp = (m + 15) / 16 * 16, rp = (rows + 15) / 16 * 16;
  Output out;
  out.y.resize(size_t(BH) * T * dv);
  out.state.resize(size_t(BH) * dv * m);
  if (v.normalise) out.z.resize(size_t(BH) * m);
  for (int bh = 0; bh < BH; ++bh) {
    const HeadView h = p.head(bh);
    const FeatureSpec f =
        head_feature_spec(cuda_feature_kind(v).value(), dk, m, h.features.w, h.features.b, h.features.omega, 0);
    std::vector<float> S(rp * mp, 0.f);
    for (int r = 0; r < dv; ++r)
      for (int c = 0; c < m; ++c) S[r * mp + c] = h.s0 ? h.s0[r * m + c] : 0.f;
    std::vector<float> Qf(np * mp), Kf(np * mp), Vf(np * rp), Ga(np * rp), Gb(np * mp), Y(np * rp), D(np * 16);
    std::vector<float> TA, TB, X(dk);
    for (int t0 = 0; t0 < T; t0 += C) {
      const int n = T - t0 < C ? T - t0 : C, nt = (n + 15) / 16 * 16, ns = nt / 16;
      TA.assign(ns * rp, 0.f);
      TB.assign(ns * mp, 0.f);
      // 1. features, values, gates (inputs rounded to the storage type)
      for (int i = 0; i < nt; ++i) {
        const int t = t0 + i;
        const float g = (i < n && h.gate) ? h.gate[t] : 1.f;
        for (int which = 0; which < 2; ++which) {
          float sq = 0.f;
          for (int c = 0; c < dk; ++c) {
            X[c] = i < n ? round_to<Storage>((which == 0 ? h.q : h.k)[t * dk + c]) : 0.f;
            sq += X[c] * X[c];
          }
          for (int c = 0; c < mp; ++c) {
            float fx = 0.f;
            if (i < n && c < m) {
              fx = feature_at(f, X.data(), sq, c);
              if (which == 1) fx *= write_scale(rule, g);
            }
            (which == 0 ? Qf : Kf)[i * mp + c] = fx;
          }
        }
        for (int r = 0; r < rp; ++r) {
          const bool real = i < n && r < rows;
          Vf[i * rp + r] = real ? (r < dv ? round_to<Storage>(h.v[t * dv + r]) : 1.f) : 0.f;
          Ga[i * rp + r] = real ? row_gate(rule, g, h.gate_v ? h.gate_v + t * dv : nullptr, r, dv) : 1.f;
        }
        for (int c = 0; c < mp; ++c)
          Gb[i * mp + c] = (i < n && c < m && rule == RuleKind::decay) ? column_gate(rule, h.gate_k + t * m, c) : 1.f;
      }
      // 2. diagonal
      for (int I = 0; I < ns; ++I) {
        const int base = I * 16, len = std::min(16, n - base);
        for (int j = 0; j < len; ++j)
          diag_scores_for_key<128>(Qf.data() + base * mp, Kf.data() + base * mp,
                                   rule == RuleKind::decay ? Gb.data() + base * mp : nullptr, mp, j, len, m, 0, 1,
                                   [](float x) { return x; }, D.data() + base * 16 + j, 16);
      }
      for (int i = 0; i < nt; ++i)
        for (int r = 0; r < rp; ++r) {
          const int base = i / 16 * 16;
          Y[i * rp + r] = (i < n && r < rows)
                              ? diag_value(D.data() + i * 16, Ga.data() + base * rp, Vf.data() + base * rp, rp,
                                           i - base, r)
                              : 0.f;
        }
      // 3. prefix / suffix exponentials, log totals
      for (int I = 0; I < ns; ++I) {
        const int base = I * 16, len = std::min(16, n - base);
        for (int r = 0; r < rp; ++r) {
          const SubChunkColumn s = sub_chunk_column(Ga.data() + base * rp + r, rp, len);
          for (int i = 0; i < 16; ++i) {
            Ga[(base + i) * rp + r] = s.ep[i];
            Vf[(base + i) * rp + r] *= s.es[i];
          }
          TA[I * rp + r] = s.log_total;
        }
        for (int c = 0; c < mp; ++c) {
          const SubChunkColumn s = sub_chunk_column(Gb.data() + base * mp + c, mp, len);
          for (int i = 0; i < 16; ++i) {
            Qf[(base + i) * mp + c] *= s.ep[i];
            Kf[(base + i) * mp + c] *= s.es[i];
          }
          TB[I * mp + c] = s.log_total;
        }
      }
      // 4-6. incoming state (TF32) and earlier sub-chunks (E operands, E scores)
      for (int I = 0; I < ns; ++I)
        for (int i = I * 16; i < I * 16 + 16; ++i)
          for (int r = 0; r < rp; ++r) {
            float acc = 0.f;
            for (int c = 0; c < mp; ++c)
              acc += tf32_round<Storage>(Qf[i * mp + c] * std::exp(log_total_before(TB.data() + c, mp, I))) *
                     tf32_round<Storage>(S[r * mp + c]);
            Y[i * rp + r] += acc * std::exp(log_total_before(TA.data() + r, rp, I)) * Ga[i * rp + r];
          }
      for (int I = 1; I < ns; ++I)
        for (int J = 0; J < I; ++J) {
          float P[16][16];
          for (int i = 0; i < 16; ++i)
            for (int j = 0; j < 16; ++j) {
              float acc = 0.f;
              for (int c = 0; c < mp; ++c)
                acc += mma_round<Storage>(Qf[(I * 16 + i) * mp + c] *
                                          std::exp(log_total_between(TB.data() + c, mp, J, I))) *
                       mma_round<Storage>(Kf[(J * 16 + j) * mp + c]);
              P[i][j] = mma_round<Storage>(acc);
            }
          for (int i = 0; i < 16; ++i)
            for (int r = 0; r < rp; ++r) {
              float acc = 0.f;
              for (int j = 0; j < 16; ++j) acc += P[i][j] * mma_round<Storage>(Vf[(J * 16 + j) * rp + r]);
              const int row = I * 16 + i;
              Y[row * rp + r] += acc * std::exp(log_total_between(TA.data() + r, rp, J, I)) * Ga[row * rp + r];
            }
        }
      // 7. outputs, state decay, Vx / Kx
      for (int i = 0; i < n; ++i)
        for (int r = 0; r < dv; ++r) {
          float y = Y[i * rp + r];
          if (v.normalise) y /= Y[i * rp + dv] + float(kNormEps);
          out.y[(size_t(bh) * T + t0 + i) * dv + r] = round_to<Storage>(y);
        }
      for (int r = 0; r < rp; ++r)
        for (int c = 0; c < mp; ++c)
          S[r * mp + c] *= std::exp(log_total_after(TA.data() + r, rp, -1, ns)) *
                           std::exp(log_total_after(TB.data() + c, mp, -1, ns));
      // 8. S += Vx^T Kx
      for (int r = 0; r < rp; ++r)
        for (int c = 0; c < mp; ++c) {
          float acc = S[r * mp + c];
          for (int i = 0; i < nt; ++i)
            acc += mma_round<Storage>(Vf[i * rp + r] * std::exp(log_total_after(TA.data() + r, rp, i / 16, ns))) *
                   mma_round<Storage>(Kf[i * mp + c] * std::exp(log_total_after(TB.data() + c, mp, i / 16, ns)));
          S[r * mp + c] = acc;
        }
    }
    for (int r = 0; r < dv; ++r)
      for (int c = 0; c < m; ++c) out.state[(size_t(bh) * dv + r) * m + c] = S[r * mp + c];
    if (v.normalise)
      for (int c = 0; c < m; ++c) out.z[size_t(bh) * m + c] = S[dv * mp + c];
  }
  return out;
}

struct ChunkCase {
  std::string variant;
  GateSet gates;
  int chunk;
  bool slow = false;  // gates raised to the power 0.02: all in about [0.95, 1), so the
                      // state and earlier sub-chunks reach far into later ones
};

void PrintTo(const ChunkCase& c, std::ostream* os) {
  *os << c.variant << " " << gate_set_name(c.gates) << " chunk " << c.chunk << (c.slow ? " slow" : "");
}

void slow_down(std::vector<float>& gates) {
  for (float& g : gates) g = std::pow(g, 0.02f);
}

class TileChunkSequence : public ::testing::TestWithParam<ChunkCase> {};

TEST_P(TileChunkSequence, MatchesReferenceInEveryStorageType) {
  const ChunkCase& cc = GetParam();
  const Variant v = parse_variant(cc.variant);
  Problem p = test::make(v, {2, 2, 97, 16, 12}, cc.gates, /*s0=*/true);
  if (cc.slow) {
    slow_down(p.gate);
    slow_down(p.gate_v);
    slow_down(p.gate_k);
  }
  const Output ref = run_once(*find_impl("reference", "cpu", "fp64"), v, p, {});
  const double f = v.tolerance_factor();
  const CaseErrors e32 = compare_outputs(emulate_chunked<float>(v, p, cc.chunk), ref);
  const CaseErrors e16 = compare_outputs(emulate_chunked<Fp16>(v, p, cc.chunk), ref);
  const CaseErrors eb16 = compare_outputs(emulate_chunked<Bf16>(v, p, cc.chunk), ref);
  test::expect_storage_errors_within_limits(e32, e16, eb16, f);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, TileChunkSequence,
    ::testing::Values(ChunkCase{"dfw", GateSet::uniform_init, 64}, ChunkCase{"dfw", GateSet::ones, 64},
                      ChunkCase{"dfw", GateSet::tiny, 64}, ChunkCase{"dfw", GateSet::mixed, 64},
                      ChunkCase{"dfw", GateSet::mixed, 20}, ChunkCase{"dfw", GateSet::uniform_init, 1},
                      ChunkCase{"dfw", GateSet::uniform_init, 64, true}, ChunkCase{"dfw", GateSet::uniform_init, 40, true},
                      ChunkCase{"rule=decay,phi=elu1", GateSet::mixed, 48},
                      ChunkCase{"rule=gated,phi=identity,norm=off", GateSet::uniform_init, 64},
                      ChunkCase{"gated", GateSet::mixed, 64}, ChunkCase{"gated", GateSet::tiny, 33},
                      ChunkCase{"gated", GateSet::uniform_init, 64, true},
                      ChunkCase{"linear", GateSet::uniform_init, 64},
                      ChunkCase{"rule=add,phi=identity,norm=on", GateSet::uniform_init, 20}),
    [](const auto& info) {
      std::string name = info.param.variant + "_" + gate_set_name(info.param.gates) + "_C" +
                         std::to_string(info.param.chunk) + (info.param.slow ? "_slow" : "");
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return name;
    });

}  // namespace
}  // namespace dfw
