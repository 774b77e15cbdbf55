// Crash-safe file replacement: write PATH.tmp.<pid>, fsync, rename over PATH.
// A reader sees the old complete file or the new complete file, never a torn one.
#pragma once

#include <string>

namespace dfw {

// Throws std::runtime_error with the path and the system's reason (e.g. an
// unwritable directory or a full disk); the temporary file is removed then.
void write_file_atomically(const std::string& path, const std::string& contents);

}  // namespace dfw
