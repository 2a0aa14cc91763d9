#pragma once

// Minimal leveled logging to stderr, one line per call, safe from any thread. Formatting only
// happens when the level is enabled, so a disabled debug line costs a comparison.

#include <atomic>
#include <cstdio>
#include <string_view>

namespace strait::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

extern std::atomic<Level> g_level;

bool parseLevel(std::string_view text, Level& out);
void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace strait::log

#define STRAIT_LOG(level, ...)                                                     \
  do {                                                                             \
    if (::strait::log::Level::level >= ::strait::log::g_level.load(std::memory_order_relaxed)) { \
      ::strait::log::write(::strait::log::Level::level, __VA_ARGS__);              \
    }                                                                              \
  } while (0)
