#pragma once

#include <cstdint>
#include <string>

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
};

// Parses argv into out. Returns an empty string on success, otherwise a message for stderr.
std::string parseOptions(int argc, char** argv, Options& out);

// The usage text printed for --help and on errors.
const char* usage();

}  // namespace strait::testupstream
