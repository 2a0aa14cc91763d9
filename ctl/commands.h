#pragma once

// straitctl's commands, each taking its own arguments (those after the command's name) and
// returning the process's exit code. Output goes to stdout, complaints to stderr.

#include <string>
#include <vector>

namespace strait::ctl {

using Args = std::vector<std::string>;

int runStatus(const Args& args);    // status_command.cc
int runValidate(const Args& args);  // validate.cc
int runCerts(const Args& args);     // certs.cc
int runDiff(const Args& args);      // diff_command.cc

// Exit code for a usage error (unknown flag, missing value): the same as unreachable, 2, as
// most command-line tools do; docs/straitctl.md lists them.
inline constexpr int kExitUsage = 2;

}  // namespace strait::ctl
