// The dfwbench subcommands; each returns the process exit code.
#pragma once

namespace dfw {

int run_check(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_bench(int argc, char** argv);
int run_list(int argc, char** argv);
int run_machine_id(int argc, char** argv);

}  // namespace dfw
