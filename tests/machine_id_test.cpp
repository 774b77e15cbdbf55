// machine_id: the name of a result set, from the CPU model and CPU count or the
// GPU name (results/<machine-id>/), and the `dfwbench machine-id` command.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <stdexcept>
#include <string>

#include "machine_info.hpp"

namespace dfw {
namespace {

TEST(MachineId, CpuModelAndCountMakeOneLowerCaseName) {
  EXPECT_EQ(machine_id("cpu", "AMD EPYC", 2), "cpu-amd-epyc-2c");
  EXPECT_EQ(machine_id("cpu", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", 16),
            "cpu-intel-xeon-platinum-8375c-16c");
  EXPECT_EQ(machine_id("cpu", "Intel(R) Xeon(R) Processor", 2), "cpu-intel-xeon-2c");
  EXPECT_EQ(machine_id("cpu", "AMD EPYC 7B13 64-Core Processor", 8), "cpu-amd-epyc-7b13-64-core-8c");
  EXPECT_EQ(machine_id("cpu", "", 4), "cpu-unknown-4c");
}

TEST(MachineId, CpuCountSeparatesMachinesOfOneModel) {
  EXPECT_NE(machine_id("cpu", "AMD EPYC", 2), machine_id("cpu", "AMD EPYC", 4));
}

// A VM may name a Zen 3 and a Zen 4 both "AMD EPYC": the vector ISA tells them apart.
TEST(MachineId, VectorIsaSeparatesMachinesOfOneModelName) {
  EXPECT_EQ(machine_id("cpu", "AMD EPYC", 2, "avx2"), "cpu-amd-epyc-avx2-2c");
  EXPECT_EQ(machine_id("cpu", "AMD EPYC", 2, "avx512"), "cpu-amd-epyc-avx512-2c");
  EXPECT_EQ(machine_id("cuda", "NVIDIA H200", 16, "avx2"), "gpu-nvidia-h200");
}

TEST(MachineId, GpuNameWithoutCpuCount) {
  EXPECT_EQ(machine_id("cuda", "NVIDIA H200", 16), "gpu-nvidia-h200");
  EXPECT_EQ(machine_id("cuda", "NVIDIA H100 80GB HBM3", 2), "gpu-nvidia-h100-80gb-hbm3");
  EXPECT_THROW(machine_id("cuda", "", 2), std::runtime_error);
}

TEST(MachineId, CommandPrintsThisMachinesCpuId) {
  FILE* pipe = popen((std::string(DFW_BINARY) + " machine-id --backend cpu").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buf[256] = {};
  const std::string out = fgets(buf, sizeof buf, pipe) ? buf : "";
  EXPECT_EQ(pclose(pipe), 0);
  EXPECT_TRUE(std::regex_match(out, std::regex("cpu-[a-z0-9]+(-[a-z0-9]+)*-[0-9]+c\n"))) << out;
  const MachineInfo m = collect_machine_info(false);
  EXPECT_EQ(out, machine_id(m, "cpu") + "\n");
}

}  // namespace
}  // namespace dfw
