// `straitctl status`: fetches /status from every --cp and prints the merged view (status.h).

#include <chrono>
#include <cstdio>
#include <iostream>

#include "ctl/commands.h"
#include "ctl/http_get.h"
#include "ctl/status.h"

namespace strait::ctl {

namespace {

constexpr std::chrono::seconds kTimeout{5};

ReplicaStatus fetchStatus(const std::string& cp) {
  ReplicaStatus replica;
  replica.url = cp;
  std::string base = cp;
  while (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  std::string error;
  std::optional<HttpResponse> response = httpGet(base + "/status", kTimeout, error);
  if (!response) {
    replica.error = error;
    return replica;
  }
  if (response->status != 200) {
    replica.error = "/status answered " + std::to_string(response->status);
    return replica;
  }
  replica.status = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (replica.status.is_discarded() || !replica.status.is_object()) {
    replica.error = "/status is not a JSON object";
    return replica;
  }
  replica.ok = true;
  return replica;
}

}  // namespace

int runStatus(const Args& args) {
  std::vector<std::string> cps;
  bool as_json = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--json") {
      as_json = true;
    } else if (args[i] == "--cp" && i + 1 < args.size()) {
      cps.push_back(args[++i]);
    } else if (args[i].rfind("--cp=", 0) == 0) {
      cps.push_back(args[i].substr(5));
    } else {
      std::cerr << "usage: straitctl status [--cp http://127.0.0.1:18001 ...] [--json]\n";
      return kExitUsage;
    }
  }
  if (cps.empty()) {
    cps.push_back("http://127.0.0.1:18001");
  }
  std::vector<ReplicaStatus> replicas;
  for (const std::string& cp : cps) {
    replicas.push_back(fetchStatus(cp));
  }
  MergedStatus merged = mergeStatus(replicas);
  // An unreachable replica is named on stderr in both modes; what the others know is printed.
  for (const ReplicaStatus& replica : merged.unreachable) {
    std::cerr << "straitctl: cannot read " << replica.url << ": " << replica.error << "\n";
  }
  if (as_json) {
    std::cout << statusJson(merged).dump(2) << "\n";
  } else {
    std::cout << renderTable(merged);
  }
  return exitCode(merged);
}

}  // namespace strait::ctl
