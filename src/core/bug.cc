#include "core/bug.h"

#include <cstdlib>

#include "core/log.h"

namespace isthmus {

namespace {
std::atomic<uint64_t> g_bugs{0};
}

void report_bug(const char* expr, const char* file, int line) {
  g_bugs.fetch_add(1, std::memory_order_relaxed);
  log::error("BUG: {} at {}:{}", expr, file, line);
#ifndef NDEBUG
  std::abort();
#endif
}

void report_panic(const char* msg, const char* file, int line) {
  log::error("PANIC: {} at {}:{}", msg, file, line);
  std::abort();
}

uint64_t bug_count() { return g_bugs.load(std::memory_order_relaxed); }

}  // namespace isthmus
