// Behaviour without a usable CUDA device (this test is skipped where one exists):
// every CUDA implementation reports the driver's reason as UNSUPPORTED, `check
// --backend auto` goes on and passes, `check --backend cuda` fails naming the
// reason, and the device queries throw it. With no NVIDIA driver at all, the
// reason says so (not the runtime's "driver version is insufficient").
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "cuda_ceilings.hpp"
#include "test_util.hpp"

namespace dfw {
namespace {

class NoDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    reason_ = cuda_unavailable_reason();
    if (reason_.empty()) GTEST_SKIP() << "a CUDA device is usable here; the GPU suites cover it";
  }
  std::string reason_;
};

int call_check(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return run_check(int(argv.size()), argv.data());
}

TEST_F(NoDevice, EveryCudaImplIsUnsupportedWithTheDriversReason) {
  int cuda_impls = 0;
  for (const Impl* impl : all_impls()) {
    if (impl->key().backend != "cuda") continue;
    ++cuda_impls;
    for (const char* name : {"dfw", "softmax", "linear", "fwp"}) {
      const Variant v = parse_variant(name);
      for (Mode mode : {Mode::sequence, Mode::decode_step}) EXPECT_EQ(impl->unsupported_reason(v, mode), reason_);
      const Problem p = test::make(v, {1, 1, 1, 16, 16});
      try {
        impl->prepare(v, p, {});
        ADD_FAILURE() << impl->key().str() << " prepared a case without a device";
      } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find(reason_), std::string::npos) << e.what();
      }
    }
  }
#ifdef DFW_CUDA_KERNELS
  EXPECT_EQ(cuda_impls, 13)
      << "recurrent, blocked and decode, each in fp32, fp16 and bf16; chunked and cudnn in fp16 and bf16";
#else
  EXPECT_EQ(cuda_impls, 0) << "a build without CUDA lists no CUDA implementation";
#endif
}

TEST_F(NoDevice, CheckWithBackendCudaFailsNamingTheReason) {
  try {
    call_check({"--backend", "cuda", "--quick", "--no-distance"});
    ADD_FAILURE() << "check --backend cuda ran without a device";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(reason_), std::string::npos) << e.what();
  }
#ifdef DFW_BINARY
  const std::string cmd = std::string(DFW_BINARY) + " check --backend cuda --quick --no-distance > /dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
#endif
}

TEST_F(NoDevice, CheckWithBackendAutoListsCudaAsUnsupportedAndPasses) {
  testing::internal::CaptureStdout();
  const int rc = call_check({"--backend", "auto", "--variants", "dfw", "--forms", "decode", "--quick", "--no-distance"});
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("decode/cpu/fp32"), std::string::npos) << out;
#ifdef DFW_CUDA_KERNELS
  for (const char* dtype : {"fp32", "fp16", "bf16"}) {
    const std::string row = std::string("decode/cuda/") + dtype;
    const auto at = out.find(row);
    ASSERT_NE(at, std::string::npos) << out;
    const std::string line = out.substr(at, out.find('\n', at) - at);
    EXPECT_NE(line.find("UNSUPPORTED"), std::string::npos) << line;
    EXPECT_NE(line.find(reason_), std::string::npos) << line;
  }
#endif
}

TEST_F(NoDevice, AMissingDriverIsNamedAsMissing) {
#ifdef DFW_CUDA_KERNELS
  void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (lib) dlclose(lib);
  if (lib || access("/proc/driver/nvidia/version", F_OK) == 0) GTEST_SKIP() << "an NVIDIA driver is installed here";
  EXPECT_EQ(reason_, "no NVIDIA driver found (no /proc/driver/nvidia/version, no libcuda.so.1)");
#else
  GTEST_SKIP() << "built without CUDA: the reason is that, not the driver's";
#endif
}

TEST_F(NoDevice, DeviceQueriesThrowTheReason) {
  for (auto query : {+[] { cuda_device_info(); }, +[] { measure_gpu_ceilings(); }}) {
    try {
      query();
      ADD_FAILURE() << "a device query succeeded without a device";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(reason_), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace dfw
