#include <csignal>
#include <cstdio>

#include "perf/loadgen/generator.h"
#include "perf/loadgen/options.h"

int main(int argc, char** argv) {
  strait::loadgen::Options options;
  std::string error = strait::loadgen::parseOptions(argc, argv, options);
  if (error == "help") {
    std::fputs(strait::loadgen::usage(), stdout);
    return 0;
  }
  if (!error.empty()) {
    std::fprintf(stderr, "strait-loadgen: %s\n%s", error.c_str(), strait::loadgen::usage());
    return 2;
  }
  FILE* out = stdout;
  if (!options.out.empty()) {
    out = std::fopen(options.out.c_str(), "w");
    if (out == nullptr) {
      std::perror(options.out.c_str());
      return 1;
    }
  }
  // A server that closes under load must not kill the generator.
  std::signal(SIGPIPE, SIG_IGN);
  strait::loadgen::Generator generator(std::move(options), out);
  int rc = generator.run();
  if (out != stdout) {
    std::fclose(out);
  }
  return rc;
}
