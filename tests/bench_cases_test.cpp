// dfwbench bench: preset expansion, sequence-length parsing and --list.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "bench_targets.hpp"
#include "cli.hpp"
#include "commands.hpp"

namespace dfw {
namespace {

std::vector<BenchCase> expand(const std::string& preset, const std::string& backend = "cpu") {
  return expand_bench_cases(preset_sweep(preset, backend));
}

TEST(BenchCases, PaperIsSpecsDecodeProtocol) {
  const auto cases = expand("paper");
  ASSERT_EQ(cases.size(), 16u * 3u);  // T = 0..1920 step 128, softmax / dfw / delta
  std::set<int64_t> seqlens;
  std::set<std::string> variants;
  for (const auto& c : cases) {
    EXPECT_EQ(c.mode, BenchMode::decode);
    EXPECT_EQ(c.form, "decode");
    EXPECT_EQ(c.dtype, "fp32");
    EXPECT_EQ(c.shape.B, 32);
    EXPECT_EQ(c.shape.H, 1);
    EXPECT_EQ(c.shape.dk, 64);
    EXPECT_EQ(c.shape.dv, 64);
    EXPECT_EQ(c.m, 64);
    EXPECT_EQ(c.chunk, 0);
    seqlens.insert(c.shape.T);
    variants.insert(c.variant.name);
  }
  EXPECT_EQ(*seqlens.begin(), 0);
  EXPECT_EQ(*seqlens.rbegin(), 1920);
  EXPECT_EQ(seqlens.size(), 16u);
  EXPECT_EQ(variants, (std::set<std::string>{"softmax", "dfw", "delta"}));
  for (const auto& c : expand("paper", "cuda")) EXPECT_EQ(c.dtype, "fp16");
}

TEST(BenchCases, DecodeProblemShapes) {
  for (const auto& c : expand("paper")) {
    const Shape p = c.problem_shape();
    if (c.variant.name == "softmax") EXPECT_EQ(p.T, c.shape.T + 1) << c.label();  // context + new token
    else EXPECT_EQ(p.T, 1) << c.label();                                           // one step from s0
    EXPECT_EQ(c.tokens(), 32);
  }
}

TEST(BenchCases, PaperPrefillStartsAt128WithItsForms) {
  const auto cases = expand("paper-prefill");
  ASSERT_EQ(cases.size(), 15u * 4u);
  std::set<std::string> runs;
  for (const auto& c : cases) {
    EXPECT_EQ(c.mode, BenchMode::prefill);
    EXPECT_GE(c.shape.T, 128);
    EXPECT_EQ(c.tokens(), 32 * c.shape.T);
    EXPECT_EQ(c.chunk, c.form == "chunked" ? 64 : 0);
    runs.insert(c.variant.name + "/" + c.form);
  }
  EXPECT_EQ(runs, (std::set<std::string>{"softmax/blocked", "dfw/chunked", "dfw/recurrent", "delta/recurrent"}));
}

TEST(BenchCases, ScalingKeepsTokensFixed) {
  const auto cases = expand("scaling");
  ASSERT_EQ(cases.size(), 9u * preset_names().size());  // T = 256..65536 doubling, every preset variant
  for (const auto& c : cases) {
    EXPECT_EQ(c.shape.B * c.shape.T, 65536) << c.label();
    EXPECT_EQ(c.shape.H, 12);
    EXPECT_EQ(c.form, "best");  // picked per case by the probe, among:
    const auto candidates = best_candidates(c.variant, c.mode, c.backend, c.dtype);
    if (c.variant.name == "softmax") {
      EXPECT_EQ(candidates, (std::vector<std::string>{"blocked"}));
    }
    if (c.variant.name == "dfw") {
      EXPECT_EQ(candidates, (std::vector<std::string>{"recurrent", "chunked"}));
    }
    if (c.variant.name == "delta") {
      EXPECT_EQ(candidates, (std::vector<std::string>{"recurrent"}));
    }
  }
}

TEST(BenchCases, GridHasEveryCombinationAtOneShape) {
  const auto cases = expand("grid");
  EXPECT_EQ(cases.size(), all_combinations().size());
  for (const auto& c : cases) EXPECT_EQ(c.shape.str(), cases.front().shape.str());
}

TEST(BenchCases, CpuTargetsRunExactlyTheRowsTheTargetsRead) {
  const auto cases = expand("cpu-targets");
  const auto rows = cpu_target_rows();
  ASSERT_EQ(cases.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(cases[i].variant.name, rows[i].variant);
    EXPECT_EQ(cases[i].form, rows[i].form);
    EXPECT_EQ(cases[i].mode, rows[i].mode);
    Shape want = rows[i].shape;
    if (want.B == kAnyBatch) {  // the streaming decode row: its batch is sized from the machine
      EXPECT_GE(cases[i].shape.B, StreamingDecodeShape::min_batch_cpu);
      want.B = cases[i].shape.B;
    }
    EXPECT_EQ(cases[i].shape.str(), want.str());
    EXPECT_EQ(cases[i].gates, rows[i].gates);
  }
  std::set<std::string> labels;
  for (const auto& c : cases) labels.insert(c.label());
  for (const char* want : {"dfw decode/cpu/fp32 decode B=32 H=12 T=16384 dk=64 dv=64 m=64",
                           "dfw chunked/cpu/fp32 prefill B=1 H=16 T=4096 dk=128 dv=128 m=128 chunk=64 gates=tiny",
                           "gated chunked/cpu/fp32 prefill B=1 H=12 T=4096 dk=64 dv=64 m=64 chunk=64 gates=ones"})
    EXPECT_TRUE(labels.count(want)) << want;
}

TEST(BenchCases, GpuTargetsRunExactlyTheRowsTheTargetsReadOnCudaInBf16) {
  const auto cases = expand("gpu-targets", "cuda");
  const auto rows = gpu_target_rows();
  ASSERT_EQ(rows.size(), 4u);  // dfw chunked, dfw recurrent, softmax blocked, dfw decode
  ASSERT_EQ(cases.size(), rows.size() + 1);  // and softmax cudnn, for the blocked / cudnn ratio beside them
  EXPECT_EQ(cases.back().label(), "softmax cudnn/cuda/bf16 prefill B=8 H=16 T=16384 dk=128 dv=128 m=128");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_TRUE(same_case(rows[i], cases[i])) << cases[i].label();
    EXPECT_EQ(cases[i].backend, "cuda");
    EXPECT_EQ(cases[i].dtype, "bf16");
  }
  EXPECT_EQ(cases[0].label(), "dfw chunked/cuda/bf16 prefill B=8 H=16 T=16384 dk=128 dv=128 m=128 chunk=64");
  // Never on the CPU: a B8 H16 T16384 recurrent prefill there would take hours.
  try {
    preset_sweep("gpu-targets", "cpu");
    ADD_FAILURE() << "gpu-targets built a cpu sweep";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("preset gpu-targets needs a CUDA device"), std::string::npos) << e.what();
  }
}

TEST(BenchCases, ACaseListedTwiceRunsOnce) {
  Sweep s = preset_sweep("paper", "cpu");
  s.groups.push_back(s.groups.front());
  s.groups.back().gate_sets = {GateSet::uniform_init, GateSet::tiny};
  const auto cases = expand_bench_cases(s);
  EXPECT_EQ(cases.size(), 2 * expand("paper").size());  // the uniform copies dropped, the tiny ones added
}

TEST(BenchCases, KeysAreUniqueInEveryPreset) {
  for (const auto& name : bench_preset_names()) {
    std::set<std::string> keys;
    const auto cases = expand(name, name == "gpu-targets" ? "cuda" : "cpu");
    for (const auto& c : cases) keys.insert(c.key());
    EXPECT_EQ(keys.size(), cases.size()) << name;
  }
  EXPECT_THROW(preset_sweep("no-such-preset", "cpu"), std::invalid_argument);
}

TEST(BenchCases, SeqlensRangesAndLists) {
  EXPECT_EQ(parse_seqlens("128:512:128"), (std::vector<int64_t>{128, 256, 384, 512}));
  EXPECT_EQ(parse_seqlens("0:256:128"), (std::vector<int64_t>{0, 128, 256}));
  EXPECT_EQ(parse_seqlens("256:2048:x2"), (std::vector<int64_t>{256, 512, 1024, 2048}));
  EXPECT_EQ(parse_seqlens("7,97,1025"), (std::vector<int64_t>{7, 97, 1025}));
  for (const char* bad : {"", "a", "1:2", "-5", "128:512:0", "0:64:x2", "512:128:128"})
    EXPECT_THROW(parse_seqlens(bad), std::invalid_argument) << bad;
}

TEST(BenchCases, PrefillNeedsTokens) {
  Sweep s = preset_sweep("paper-prefill", "cpu");
  s.groups[0].shapes[0].T = 0;
  EXPECT_THROW(expand_bench_cases(s), std::invalid_argument);
}

int bench(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return run_bench(int(argv.size()), argv.data());
}

TEST(BenchList, PrintsEveryCaseAndRunsNothing) {
  const std::string dir = ::testing::TempDir() + "dfw_bench_list";
  testing::internal::CaptureStdout();
  EXPECT_EQ(bench({"--preset", "paper-prefill", "--seqlens", "128,256", "--list", "--results-dir", dir}), 0);
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("softmax blocked/cpu/fp32 prefill B=32 H=1 T=128"), std::string::npos) << out;
  EXPECT_NE(out.find("delta recurrent/cpu/fp32 prefill B=32 H=1 T=256"), std::string::npos) << out;
  EXPECT_NE(out.find("8 cases (paper-prefill, backend cpu)"), std::string::npos) << out;
  FILE* f = std::fopen((dir + "/paper-prefill-cpu.csv").c_str(), "r");
  EXPECT_EQ(f, nullptr) << "--list must not write results";
  if (f) std::fclose(f);
}

TEST(BenchList, FlagsFilterAndOverrideAPreset) {
  testing::internal::CaptureStdout();
  EXPECT_EQ(bench({"--preset", "paper-prefill", "--forms", "chunked", "--seqlens", "64", "--batch", "2", "--list",
                   "--backend", "cpu"}),
            0);
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("1  dfw chunked/cpu/fp32 prefill B=2 H=1 T=64 dk=64 dv=64 m=64 chunk=64"), std::string::npos)
      << out;
  EXPECT_NE(out.find("1 cases"), std::string::npos) << out;
}

TEST(BenchList, GateSetsAreCasesOfTheirOwn) {
  testing::internal::CaptureStdout();
  EXPECT_EQ(bench({"--variants", "dfw", "--forms", "chunked", "--seqlens", "64", "--gates", "uniform,tiny", "--list",
                   "--backend", "cpu"}),
            0);
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("1  dfw chunked/cpu/fp32 prefill B=32 H=1 T=64 dk=64 dv=64 m=64 chunk=64\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("2  dfw chunked/cpu/fp32 prefill B=32 H=1 T=64 dk=64 dv=64 m=64 chunk=64 gates=tiny"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("2 cases"), std::string::npos) << out;
  EXPECT_THROW(bench({"--gates", "huge", "--list", "--backend", "cpu"}), std::invalid_argument);
}

TEST(BenchList, BadFlagsAreRefused) {
  EXPECT_THROW(bench({"--preset", "paper", "--mode", "prefill", "--list"}), std::invalid_argument);
  EXPECT_THROW(bench({"--mode", "sideways", "--list"}), std::invalid_argument);
  EXPECT_THROW(bench({"--batch", "0", "--list"}), std::invalid_argument);
  EXPECT_THROW(bench({"--dtype", "fp8", "--list"}), std::invalid_argument);
  EXPECT_THROW(bench({"--variants", "dfw", "--m", "32", "--list"}), std::invalid_argument);  // identity: m = dk
  EXPECT_THROW(bench({"--backend", "tpu", "--list"}), std::invalid_argument);
  EXPECT_THROW(bench({"--forms", "chunkd", "--list"}), std::invalid_argument);
  EXPECT_THROW(bench({"--seqlens", "1:2", "--list"}), std::invalid_argument);
  EXPECT_THROW(bench({"--memory-limit", "0", "--list"}), std::invalid_argument);
  EXPECT_THROW(bench({"--memory-limit", "lots", "--list"}), std::invalid_argument);
  EXPECT_THROW(bench({"--pass", "sideways", "--list"}), std::invalid_argument);
  EXPECT_THROW(bench({"--mode", "decode", "--pass", "bwd", "--list"}), std::invalid_argument);  // no decode backward
  EXPECT_THROW(bench({"--mode", "bwd", "--list"}), std::invalid_argument);  // the pass is --pass
  EXPECT_THROW(bench({"--preset", "training", "--pass", "bwd", "--list"}), std::invalid_argument);
}

TEST(BenchList, PassNamesTheModeOfEveryCase) {
  testing::internal::CaptureStdout();
  EXPECT_EQ(bench({"--variants", "dfw", "--forms", "recurrent", "--pass", "bwd", "--seqlens", "64", "--list",
                   "--backend", "cpu"}),
            0);
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("1  dfw recurrent/cpu/fp32 bwd B=32 H=1 T=64 dk=64 dv=64 m=64\n"), std::string::npos) << out;
}

TEST(BenchCases, TrainingTimesForwardAndBackwardAtBothShapes) {
  const auto cases = expand("training");
  std::set<std::string> variants;
  int paper_shape = 0, wide = 0;
  int target_rows = 0;
  for (const BenchCase& c : cases) {
    if (c.shape.B == 1 && c.shape.H == 12 && c.shape.T == 4096) {  // dfw's backward against its forward
      EXPECT_EQ(c.variant.name, "dfw");
      EXPECT_TRUE(c.mode == BenchMode::prefill || c.mode == BenchMode::backward) << c.label();
      ++target_rows;
      continue;
    }
    EXPECT_EQ(c.mode, BenchMode::training) << c.label();
    variants.insert(c.variant.name);
    if (c.shape.B == 32 && c.shape.H == 1 && c.shape.dk == 64) ++paper_shape;
    if (c.shape.B == 8 && c.shape.H == 16 && c.shape.dk == 128) ++wide;
  }
  EXPECT_EQ(variants, (std::set<std::string>{"softmax", "dfw", "delta", "gated", "linear"}));
  EXPECT_EQ(paper_shape, 25);
  EXPECT_EQ(wide, 15);
  EXPECT_EQ(target_rows, 4);  // recurrent and chunked, forward and backward
}

// On cuda the backward forms are fp32, recurrent and blocked: the gated-linear variants'
// training steps run recurrent there.
TEST(BenchCases, TrainingOnCudaIsFp32AndRecurrent) {
  for (const BenchCase& c : expand("training", "cuda")) {
    EXPECT_EQ(c.dtype, "fp32") << c.label();
    if (c.mode == BenchMode::training) {
      EXPECT_EQ(c.form, c.variant.name == "softmax" ? "blocked" : "recurrent") << c.label();
    }
  }
  for (const BenchCase& c : expand("training"))
    if (c.mode == BenchMode::training && (c.variant.name == "dfw" || c.variant.name == "linear")) {
      EXPECT_EQ(c.form, "chunked") << c.label();
    }
}

}  // namespace
}  // namespace dfw
