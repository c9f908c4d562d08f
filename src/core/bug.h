// BUG(cond): a broken invariant that can be survived: logged and counted, fatal in debug builds.
// PANIC(msg): the impossible; always fatal.
#pragma once

#include <atomic>
#include <cstdint>

namespace isthmus {

void report_bug(const char* expr, const char* file, int line);
[[noreturn]] void report_panic(const char* msg, const char* file, int line);
uint64_t bug_count();

}  // namespace isthmus

#define BUG(cond) ((cond) ? (::isthmus::report_bug(#cond, __FILE__, __LINE__), true) : false)
#define PANIC(msg) ::isthmus::report_panic(msg, __FILE__, __LINE__)
