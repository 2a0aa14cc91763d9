// `straitctl validate FILE|DIR`: a file is checked as a proxy's strait.yaml, a directory as
// strait-cp's source (one folder per group), each with the loader its user runs.

#include <sys/stat.h>

#include <iostream>

#include "config/loader.h"
#include "control/source.h"
#include "ctl/commands.h"
#include "filters/parsers.h"

namespace strait::ctl {

namespace {

int validateFile(const std::string& path) {
  config::LoadResult result = config::loadFile(path);
  if (!result.ok()) {
    for (const config::ConfigError& error : result.errors) {
      std::cout << error.toString() << "\n";
    }
    return 1;
  }
  std::cout << path << ": ok\n";
  return 0;
}

int validateDir(const std::string& dir) {
  cp::SourceResult result = cp::loadSource(dir);
  if (result.groups.empty() && result.errors.empty()) {
    std::cout << dir << ": no groups (one folder per proxy group is expected)\n";
    return 1;
  }
  for (const auto& [group, snapshot] : result.groups) {
    std::cout << "group " << group << ": ok (" << snapshot.clusters << " clusters, "
              << snapshot.listeners << " listeners)\n";
  }
  for (const auto& [group, errors] : result.errors) {
    std::cout << "group " << group << ": " << errors.size()
              << (errors.size() == 1 ? " error\n" : " errors\n");
    for (const config::ConfigError& error : errors) {
      std::cout << "  " << error.toString() << "\n";
    }
  }
  return result.ok() ? 0 : 1;
}

}  // namespace

int runValidate(const Args& args) {
  if (args.size() != 1 || args[0].rfind("-", 0) == 0) {
    std::cerr << "usage: straitctl validate FILE|DIR\n";
    return kExitUsage;
  }
  // Filter blocks are validated by the filters' own parsers, as the proxy and strait-cp do.
  filters::registerBuiltinFilterParsers();
  struct stat st {};
  if (::stat(args[0].c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return validateDir(args[0]);
  }
  return validateFile(args[0]);  // a missing file is reported by the loader, with its path
}

}  // namespace strait::ctl
