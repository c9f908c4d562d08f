// One-line logging to stderr: "2026-11-29T11:05:37.123Z info  bgp: peer 198.18.0.2 Idle ->
// Connect".
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <string_view>

namespace isthmus::log {

enum class Level : uint8_t { Debug, Info, Warn, Error };

void set_level(Level level);
Level level();
void write(Level level, std::string_view text);

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::Debug) write(Level::Debug, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::Info) write(Level::Info, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (level() <= Level::Warn) write(Level::Warn, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::Error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace isthmus::log
