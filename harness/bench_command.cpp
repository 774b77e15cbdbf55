// dfwbench bench: placeholder until the timing harness lands.
#include <stdexcept>

#include "commands.hpp"

namespace dfw {

int run_bench(int, char**) { throw std::runtime_error("bench is not implemented yet"); }

}  // namespace dfw
