// dfwbench machine-id: prints the name of this machine's result set for a backend
// (machine_info.hpp), the one place scripts take results/<machine-id>/ from.
#include <iostream>
#include <stdexcept>

#include "cli.hpp"
#include "commands.hpp"
#include "impl.hpp"
#include "machine_info.hpp"

namespace dfw {

int run_machine_id(int argc, char** argv) {
  Cli cli("machine-id",
          "Prints the machine id whose results/<machine-id>/ and plots/<machine-id>/ hold this machine's\n"
          "results for the backend: cpu-<CPU model>-<N>c (N logical CPUs) or gpu-<GPU name>.");
  cli.option("backend", "cpu", "cpu or cuda (cuda needs a usable device)");
  if (!cli.parse(argc, argv)) return 0;
  const std::string backend = cli.str("backend");
  if (backend != "cpu" && backend != "cuda") throw std::invalid_argument("--backend must be cpu or cuda");
  if (backend == "cuda" && !cuda_unavailable_reason().empty())
    throw std::runtime_error("--backend cuda: " + cuda_unavailable_reason());
  std::cout << machine_id(collect_machine_info(backend == "cuda"), backend) << "\n";
  return 0;
}

}  // namespace dfw
