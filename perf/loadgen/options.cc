#include "perf/loadgen/options.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace strait::loadgen {
namespace {

bool parseUnsigned(std::string_view text, uint64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

bool parseDouble(std::string_view text, double& out) {
  std::string copy(text);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  return !copy.empty() && end == copy.c_str() + copy.size() && std::isfinite(out) && out >= 0;
}

// Calls onItem for every comma-separated item; stops at the first false.
template <typename F>
bool forEachItem(std::string_view text, F onItem) {
  while (!text.empty()) {
    size_t comma = text.find(',');
    if (!onItem(text.substr(0, comma))) {
      return false;
    }
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return true;
}

// "host:port/path" (an "http://" in front is allowed).
bool parseUrl(std::string_view text, Options& out) {
  if (text.substr(0, 7) == "http://") {
    text = text.substr(7);
  }
  size_t slash = text.find('/');
  out.path = slash == std::string_view::npos ? "/" : std::string(text.substr(slash));
  std::string_view authority = text.substr(0, slash);
  size_t colon = authority.rfind(':');
  uint64_t port = 0;
  if (colon == std::string_view::npos || !parseUnsigned(authority.substr(colon + 1), port) ||
      port == 0 || port > 65535) {
    return false;
  }
  out.host = std::string(authority.substr(0, colon));
  if (out.host == "localhost") {
    out.host = "127.0.0.1";
  }
  out.port = static_cast<uint16_t>(port);
  return true;
}

bool parseStages(std::string_view text, Options& out) {
  out.stages.clear();
  return forEachItem(text, [&](std::string_view item) {
    size_t colon = item.find(':');
    Stage stage;
    if (colon == std::string_view::npos || !parseDouble(item.substr(0, colon), stage.rate) ||
        !parseDouble(item.substr(colon + 1), stage.seconds) || stage.seconds <= 0) {
      return false;
    }
    out.stages.push_back(stage);
    return true;
  });
}

// "x-strait-priority=critical:20,important:30,nice_to_have:50"
bool parseMix(std::string_view text, Options& out) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return false;
  }
  out.mixHeader = std::string(text.substr(0, eq));
  out.mix.clear();
  bool ok = forEachItem(text.substr(eq + 1), [&](std::string_view item) {
    size_t colon = item.rfind(':');
    MixClass mixClass;
    if (colon == std::string_view::npos || colon == 0 ||
        !parseDouble(item.substr(colon + 1), mixClass.weight)) {
      return false;
    }
    mixClass.value = std::string(item.substr(0, colon));
    out.mix.push_back(mixClass);
    return true;
  });
  return ok && !out.mix.empty();
}

}  // namespace

const char* usage() {
  return "usage: strait-loadgen --url HOST:PORT/PATH --stages RATE:SECONDS[,RATE:SECONDS...]\n"
         "                      [--connections 256] [--timeout-ms 5000] [--arrivals poisson]\n"
         "                      [--header-mix NAME=VALUE:WEIGHT,...] [--seed 1] [--out FILE]\n"
         "\n"
         "Open loop: request i is sent at its scheduled time whether or not earlier ones were\n"
         "answered. A request that finds no idle connection opens one; at --connections open\n"
         "it is dropped (outcome drop). --arrivals poisson|uniform spaces the requests.\n"
         "Writes one CSV line per request: start_ms (from the first stage's start), latency_ms,\n"
         "status (0 when there was no answer), class (the mix value or -), stage (0-based),\n"
         "outcome (ok, timeout, error, drop) and overloaded (1 if x-strait-overloaded came "
         "back).\n";
}

std::string parseOptions(int argc, char** argv, Options& out) {
  bool haveUrl = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      return "help";
    }
    std::string_view value;
    if (auto eq = arg.find('='); eq != std::string_view::npos && arg.substr(0, 2) == "--") {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return "missing value for " + std::string(arg);
    }
    bool ok = true;
    if (arg == "--url") {
      ok = haveUrl = parseUrl(value, out);
    } else if (arg == "--stages") {
      ok = parseStages(value, out) && !out.stages.empty();
    } else if (arg == "--connections") {
      ok = parseUnsigned(value, out.connections) && out.connections > 0;
    } else if (arg == "--timeout-ms") {
      ok = parseUnsigned(value, out.timeoutMs) && out.timeoutMs > 0;
    } else if (arg == "--header-mix") {
      ok = parseMix(value, out);
    } else if (arg == "--arrivals") {
      ok = value == "poisson" || value == "uniform";
      out.poisson = value == "poisson";
    } else if (arg == "--seed") {
      ok = parseUnsigned(value, out.seed);
    } else if (arg == "--out") {
      out.out = value;
    } else {
      return "unknown option " + std::string(arg);
    }
    if (!ok) {
      return "bad " + std::string(arg) + ": " + std::string(value);
    }
  }
  if (!haveUrl || out.stages.empty()) {
    return "--url and --stages are required";
  }
  return {};
}

}  // namespace strait::loadgen
