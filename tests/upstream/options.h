#pragma once

#include <cstdint>
#include <string>

#include "tests/upstream/latency.h"

namespace strait::testupstream {

// Command-line settings; every request can override status, body size and delay.
struct Options {
  std::string address{"127.0.0.1"};
  uint16_t port{0};
  std::string portFile;
  std::string name{"upstream"};
  uint64_t bodySize{0};
  int status{200};
  uint64_t delayMs{0};
  // The capacity model (see capacity.h): requests in service at once, 0 = unlimited.
  uint64_t capacity{0};
  // The service-time distribution; Kind::None keeps --delay-ms as the service time.
  LatencySpec latency;
  // Seeds the service-time generator; fixed by default so runs are reproducible.
  uint64_t seed{1};
};

// Parses argv into out. Returns an empty string on success, otherwise a message for stderr.
std::string parseOptions(int argc, char** argv, Options& out);

// The usage text printed for --help and on errors.
const char* usage();

}  // namespace strait::testupstream
