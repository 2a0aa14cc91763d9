// straitctl: the operator's command line for a Strait mesh (docs/straitctl.md). Usage:
// straitctl --help.

#include <iostream>
#include <string>

#include "ctl/commands.h"

namespace {

const char* kUsage =
    "usage: straitctl status   [--cp http://127.0.0.1:18001 ...] [--json]\n"
    "       straitctl diff     NODE [--cp http://127.0.0.1:18001] [--proxy http://HOST:PORT]\n"
    "                          [--group NAME] [--json]\n"
    "       straitctl validate FILE|DIR\n"
    "       straitctl certs    --out DIR [--trust-domain example.org] [--workload ns/sa ...]\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace strait::ctl;
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  std::string command = argv[1];
  Args args(argv + 2, argv + argc);
  if (command == "status") {
    return runStatus(args);
  }
  if (command == "diff") {
    return runDiff(args);
  }
  if (command == "validate") {
    return runValidate(args);
  }
  if (command == "certs") {
    return runCerts(args);
  }
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "straitctl: unknown command " << command << "\n" << kUsage;
  return kExitUsage;
}
