// dfwbench: accuracy checks, .npy evaluation and timing sweeps for causal
// attention and its recurrent substitutes.
#include <cstring>
#include <exception>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "bench_cases.hpp"
#include "commands.hpp"
#include "thread_policy.hpp"
#include "variant.hpp"

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The preset lists come from the code that defines them, so the usage names every one.
std::string usage() {
  return "usage: dfwbench COMMAND [flags]   (dfwbench COMMAND --help for its flags)\n"
         "\n"
         "commands:\n"
         "  check   run every supported (variant, form, backend, dtype) against the float64\n"
         "          reference on odd shapes and gate edge cases; exit 1 on any FAIL, 2 if none ran\n"
         "  eval    run one variant on .npy inputs and write y.npy, state.npy, z.npy\n"
         "  bench   timing and memory sweeps over sequence lengths, written to\n"
         "          results/<machine-id>/*.json, *.csv; disturbed runs are marked, never judged\n"
         "          presets: " + joined(dfw::bench_preset_names()) + "\n"
         "  list    list presets, rules, feature maps and implementations\n"
         "  machine-id  print the id of this machine's result set (results/<machine-id>/)\n"
         "\n"
         "variants are presets or spec strings rule=RULE,phi=MAP[,norm=on|off][,m=M][,nu=NU];\n"
         "lists of them are separated by ';'. presets: " + joined(dfw::preset_names()) + "\n"
         "The math every form computes: docs/MATH.md.\n";
}

}  // namespace

int main(int argc, char** argv) {
  // Before any OpenMP work: idle threads must sleep, not spin (thread_policy.hpp).
  dfw::reexec_with_passive_wait_policy(argv);
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    std::cout << usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "check") return dfw::run_check(argc - 2, argv + 2);
    if (cmd == "eval") return dfw::run_eval(argc - 2, argv + 2);
    if (cmd == "bench") return dfw::run_bench(argc - 2, argv + 2);
    if (cmd == "list") return dfw::run_list(argc - 2, argv + 2);
    if (cmd == "machine-id") return dfw::run_machine_id(argc - 2, argv + 2);
    std::cerr << "dfwbench: unknown command '" << cmd << "'\n\n" << usage();
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "dfwbench " << cmd << ": error: " << e.what() << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "dfwbench " << cmd << ": error: out of host memory\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "dfwbench " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
}
