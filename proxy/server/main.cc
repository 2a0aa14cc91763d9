// strait: the Strait proxy.

#include <cstdio>
#include <cstring>
#include <string>

#include "config/loader.h"
#include "filters/builtin.h"
#include "proxy/server/server.h"
#include "strait/common/log.h"

namespace {

constexpr const char* kUsage = R"(usage: strait --config FILE [options]

Strait, a service-mesh L7 proxy.

options:
  -c, --config FILE             the configuration file (see docs/config.md)
      --validate                check the configuration and exit: 0 when valid, 1 with every
                                error as FILE:LINE:COL: path: message
      --admin-address-path FILE write HOST:PORT of the admin server to FILE once it serves
      --concurrency N           worker threads (overrides `workers` in the file)
      --log-level LEVEL         debug | info | warn | error (default: info)
  -h, --help                    this text
      --version                 the version

signals: SIGHUP reloads the config; SIGTERM/SIGINT drain gracefully, a second one exits now.
)";

}  // namespace

int main(int argc, char** argv) {
  strait::server::Options options;
  bool validate = false;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "strait: %s needs a value\n%s", name, kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--version") {
      std::printf("strait %s\n", STRAIT_VERSION);
      return 0;
    }
    if (arg == "-c" || arg == "--config") {
      options.config_path = value("--config");
    } else if (arg == "--validate") {
      validate = true;
    } else if (arg == "--admin-address-path") {
      options.admin_address_path = value("--admin-address-path");
    } else if (arg == "--concurrency") {
      options.concurrency = static_cast<uint32_t>(std::atoi(value("--concurrency")));
    } else if (arg == "--log-level") {
      strait::log::Level level;
      if (!strait::log::parseLevel(value("--log-level"), level)) {
        std::fprintf(stderr, "strait: unknown log level %s (debug, info, warn, error)\n", argv[i]);
        return 2;
      }
      strait::log::g_level.store(level);
    } else {
      std::fprintf(stderr, "strait: unknown option %s\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  strait::filters::registerBuiltinFilters();
  if (options.config_path.empty()) {
    std::fprintf(stderr, "strait: --config FILE is required\n%s", kUsage);
    return 2;
  }
  if (validate) {
    auto result = strait::config::loadFile(options.config_path);
    if (!result.ok()) {
      for (const auto& e : result.errors) {
        std::fprintf(stderr, "%s\n", e.toString().c_str());
      }
      return 1;
    }
    auto unbuilt = strait::server::unbuiltFeatures(*result.bootstrap);
    for (const auto& message : unbuilt) {
      std::fprintf(stderr, "%s: %s\n", options.config_path.c_str(), message.c_str());
    }
    if (!unbuilt.empty()) {
      return 1;
    }
    std::printf("%s: OK\n", options.config_path.c_str());
    return 0;
  }
  strait::server::Server server(options);
  return server.run();
}
