#include "tests/upstream/options.h"

#include <charconv>
#include <string_view>

namespace strait::testupstream {
namespace {

bool parseUnsigned(std::string_view text, uint64_t& out) {
  if (text.empty()) {
    return false;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

const char* usage() {
  return "usage: strait-test-upstream [--address 127.0.0.1] [--port 0] [--port-file PATH]\n"
         "                            [--name NAME] [--body-size N] [--status N] [--delay-ms N]\n"
         "                            [--capacity N] [--latency SPEC] [--seed N]\n"
         "\n"
         "  --delay-ms N     service time of every request (a request's delay_ms wins)\n"
         "  --capacity N     at most N requests in service at once, the rest wait in FIFO order\n"
         "                   (0, the default: no limit); GET /__control?capacity=N changes it\n"
         "  --latency SPEC   service-time distribution instead of --delay-ms: fixed:MS,\n"
         "                   exp:MEAN_MS, lognormal:MEDIAN_MS,SIGMA or "
         "bimodal:FAST_MS,SLOW_MS,P_SLOW\n"
         "  --seed N         seed of the service-time generator (default 1)\n";
}

std::string parseOptions(int argc, char** argv, Options& out) {
  bool delayGiven = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      return "help";
    }
    std::string_view value;
    // Accept both "--flag value" and "--flag=value".
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return "missing value for " + std::string(arg);
    }
    uint64_t number = 0;
    if (arg == "--address") {
      out.address = value;
    } else if (arg == "--port-file") {
      out.portFile = value;
    } else if (arg == "--name") {
      out.name = value;
    } else if (arg == "--port") {
      if (!parseUnsigned(value, number) || number > 65535) {
        return "bad --port: " + std::string(value);
      }
      out.port = static_cast<uint16_t>(number);
    } else if (arg == "--body-size") {
      if (!parseUnsigned(value, number)) {
        return "bad --body-size: " + std::string(value);
      }
      out.bodySize = number;
    } else if (arg == "--status") {
      if (!parseUnsigned(value, number) || number < 100 || number > 999) {
        return "bad --status: " + std::string(value);
      }
      out.status = static_cast<int>(number);
    } else if (arg == "--delay-ms") {
      if (!parseUnsigned(value, number)) {
        return "bad --delay-ms: " + std::string(value);
      }
      out.delayMs = number;
      delayGiven = true;
    } else if (arg == "--capacity") {
      if (!parseUnsigned(value, number)) {
        return "bad --capacity: " + std::string(value);
      }
      out.capacity = number;
    } else if (arg == "--latency") {
      if (std::string error = parseLatencySpec(value, out.latency); !error.empty()) {
        return error;
      }
    } else if (arg == "--seed") {
      if (!parseUnsigned(value, number)) {
        return "bad --seed: " + std::string(value);
      }
      out.seed = number;
    } else {
      return "unknown option " + std::string(arg);
    }
  }
  if (delayGiven && out.latency.kind != LatencySpec::Kind::None) {
    return "--delay-ms and --latency both give the service time: choose one";
  }
  return {};
}

}  // namespace strait::testupstream
