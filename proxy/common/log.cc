#include "strait/common/log.h"

#include <algorithm>
#include <cstdarg>
#include <ctime>
#include <sys/time.h>

namespace strait::log {

std::atomic<Level> g_level{Level::Info};

bool parseLevel(std::string_view text, Level& out) {
  if (text == "debug") {
    out = Level::Debug;
  } else if (text == "info") {
    out = Level::Info;
  } else if (text == "warn" || text == "warning") {
    out = Level::Warn;
  } else if (text == "error") {
    out = Level::Error;
  } else {
    return false;
  }
  return true;
}

void write(Level level, const char* fmt, ...) {
  static const char* const kNames[] = {"debug", "info", "warn", "error"};
  char line[2048];
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm t;
  gmtime_r(&tv.tv_sec, &t);
  int n = std::snprintf(line, sizeof(line), "[%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ] [%s] ",
                        t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                        static_cast<long>(tv.tv_usec / 1000), kNames[static_cast<int>(level)]);
  va_list args;
  va_start(args, fmt);
  int m = std::vsnprintf(line + n, sizeof(line) - static_cast<size_t>(n) - 1, fmt, args);
  va_end(args);
  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : std::min<size_t>(static_cast<size_t>(m), sizeof(line) - static_cast<size_t>(n) - 2));
  line[len++] = '\n';
  // One write() per line keeps lines from different threads whole.
  fwrite(line, 1, len, stderr);
  fflush(stderr);
}

}  // namespace strait::log
