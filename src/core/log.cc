#include "core/log.h"

#include <sys/time.h>

#include <cstdio>
#include <ctime>

namespace isthmus::log {

namespace {
std::atomic<Level> g_level{Level::Info};
constexpr const char* kNames[] = {"debug", "info ", "warn ", "error"};
}  // namespace

void set_level(Level l) { g_level.store(l, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }

void write(Level l, std::string_view text) {
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm t;
  gmtime_r(&tv.tv_sec, &t);
  char ts[64];  // large enough for any int year: -Wformat-truncation breaks the build otherwise
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, tv.tv_usec / 1000);
  std::fprintf(stderr, "%s %s %.*s\n", ts, kNames[static_cast<int>(l)],
               static_cast<int>(text.size()), text.data());
}

}  // namespace isthmus::log
