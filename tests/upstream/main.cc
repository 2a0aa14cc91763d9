#include <csignal>
#include <cstdio>

#include "tests/upstream/options.h"
#include "tests/upstream/server.h"

int main(int argc, char** argv) {
  using strait::testupstream::Options;
  Options options;
  std::string error = strait::testupstream::parseOptions(argc, argv, options);
  if (error == "help") {
    std::fputs(strait::testupstream::usage(), stdout);
    return 0;
  }
  if (!error.empty()) {
    std::fprintf(stderr, "strait-test-upstream: %s\n%s", error.c_str(),
                 strait::testupstream::usage());
    return 2;
  }
  // libuv writes with write(2), so a peer that vanished must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  strait::testupstream::Server server(std::move(options));
  return server.run();
}
