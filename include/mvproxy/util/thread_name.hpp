#pragma once

#include <string>

namespace mvproxy::util {

// Names the calling thread (at most 15 characters show), so `top -H`, `perf` and
// /proc/PID/task/*/comm tell the workers from the control plane and the admin server.
void name_this_thread(const std::string& name);

}  // namespace mvproxy::util
