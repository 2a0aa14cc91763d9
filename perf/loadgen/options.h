#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace strait::loadgen {

// One step of the offered load: `rate` requests per second for `seconds`.
struct Stage {
  double rate{0};
  double seconds{0};
};

// One value of the mix header and its share of the requests (weights need not sum to 100).
struct MixClass {
  std::string value;
  double weight{0};
};

struct Options {
  std::string host{"127.0.0.1"};
  uint16_t port{0};
  std::string path{"/"};
  std::vector<Stage> stages;
  uint64_t connections{256};
  // A request with no answer after this long is recorded as a timeout and its connection closed.
  uint64_t timeoutMs{5000};
  // Empty name: no mix header; every request is of class "-".
  std::string mixHeader;
  std::vector<MixClass> mix;
  bool poisson{true};
  uint64_t seed{1};
  std::string out;  // empty: stdout
};

// Parses argv; an empty string on success, "help" for --help, otherwise a message for stderr.
std::string parseOptions(int argc, char** argv, Options& out);
const char* usage();

}  // namespace strait::loadgen
