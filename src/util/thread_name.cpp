#include "mvproxy/util/thread_name.hpp"

#include <pthread.h>

namespace mvproxy::util {

void name_this_thread(const std::string& name) {
  // The kernel keeps 15 characters and a NUL; a longer name would be refused whole.
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace mvproxy::util
