// `straitctl diff NODE`: fetches the node's intended resources from strait-cp
// (/intended/<node>) and the proxy's /config_dump, and prints how they differ (diff.h).

#include <cctype>
#include <chrono>
#include <iostream>
#include <optional>

#include "ctl/commands.h"
#include "ctl/diff.h"
#include "ctl/http_get.h"

namespace strait::ctl {

namespace {

using nlohmann::json;

constexpr std::chrono::seconds kTimeout{5};
constexpr const char* kUsage =
    "usage: straitctl diff NODE [--cp http://127.0.0.1:18001] [--proxy http://HOST:PORT] "
    "[--group NAME] [--json]\n";

struct DiffArgs {
  std::string node;
  std::string cp = "http://127.0.0.1:18001";
  std::string proxy;  // the proxy's admin URL; "" to ask strait-cp's /status
  std::string group;  // "" for the one the node gave strait-cp
  bool as_json = false;
};

std::optional<DiffArgs> parseArgs(const Args& args) {
  DiffArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::optional<std::string> inline_value;  // --cp=URL
    if (size_t equals = arg.find('='); arg.rfind("--", 0) == 0 && equals != std::string::npos) {
      inline_value = arg.substr(equals + 1);
      arg.resize(equals);
    }
    std::string* value = arg == "--cp"      ? &out.cp
                         : arg == "--proxy" ? &out.proxy
                         : arg == "--group" ? &out.group
                                            : nullptr;
    if (arg == "--json" && !inline_value.has_value()) {
      out.as_json = true;
    } else if (value != nullptr && inline_value.has_value()) {
      *value = *inline_value;
    } else if (value != nullptr && i + 1 < args.size()) {
      *value = args[++i];
    } else if (value == nullptr && !arg.empty() && arg[0] != '-' && out.node.empty()) {
      out.node = arg;
    } else {
      return std::nullopt;
    }
  }
  if (out.node.empty()) {
    return std::nullopt;
  }
  return out;
}

std::string withoutTrailingSlash(std::string url) {
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  return url;
}

// A node id or group as a URL path segment or query value: everything but the unreserved
// characters %-escaped.
std::string percentEncoded(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// GETs `url` and parses its JSON body; nullopt with `error` set ("what: why") otherwise. A
// non-200 answer's text is quoted: strait-cp says why it has nothing for a node.
std::optional<json> fetchJson(const std::string& url, const std::string& what, std::string& error) {
  std::optional<HttpResponse> response = httpGet(url, kTimeout, error);
  if (!response.has_value()) {
    error = "cannot read " + what + " (" + url + "): " + error;
    return std::nullopt;
  }
  if (response->status != 200) {
    std::string text = response->body.substr(0, response->body.find('\n'));
    error = what + " (" + url + ") answered " + std::to_string(response->status) +
            (text.empty() ? "" : ": " + text);
    return std::nullopt;
  }
  json doc = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    error = what + " (" + url + ") is not JSON";
    return std::nullopt;
  }
  return doc;
}

// The proxy's admin URL as strait-cp's /status gives it (nodes[i].admin, "host:port").
std::optional<std::string> adminFromStatus(const DiffArgs& args, std::string& error) {
  std::optional<json> status = fetchJson(args.cp + "/status", "strait-cp's /status", error);
  if (!status.has_value()) {
    return std::nullopt;
  }
  auto nodes = status->is_object() ? status->find("nodes") : status->end();
  if (status->is_object() && nodes != status->end() && nodes->is_array()) {
    for (const json& node : *nodes) {
      if (node.is_object() && node.value("id", json()) == args.node) {
        auto admin = node.find("admin");
        if (admin != node.end() && admin->is_string() && !admin->get<std::string>().empty()) {
          return "http://" + admin->get<std::string>();
        }
      }
    }
  }
  error = "strait-cp's /status gives no admin address for " + args.node +
          "; give the proxy's admin URL with --proxy http://HOST:PORT";
  return std::nullopt;
}

int fail(const DiffArgs& args, const std::string& error) {
  std::cerr << "straitctl: " << error << "\n";
  if (args.as_json) {
    std::cout << json{{"node", args.node}, {"error", error}, {"exit_code", kDiffError}}.dump(2)
              << "\n";
  }
  return kDiffError;
}

}  // namespace

int runDiff(const Args& raw) {
  std::optional<DiffArgs> parsed = parseArgs(raw);
  if (!parsed.has_value()) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  DiffArgs& args = *parsed;
  args.cp = withoutTrailingSlash(args.cp);
  std::string error;
  std::string intended_url = args.cp + "/intended/" + percentEncoded(args.node) +
                             (args.group.empty() ? "" : "?group=" + percentEncoded(args.group));
  std::optional<json> intended_doc = fetchJson(intended_url, "strait-cp's /intended", error);
  if (!intended_doc.has_value()) {
    return fail(args, error);
  }
  std::optional<IntendedConfig> intended = parseIntended(*intended_doc, error);
  if (!intended.has_value()) {
    return fail(args, error);
  }
  if (args.proxy.empty()) {
    std::optional<std::string> admin = adminFromStatus(args, error);
    if (!admin.has_value()) {
      return fail(args, error);
    }
    args.proxy = *admin;
  }
  std::string dump_url = withoutTrailingSlash(args.proxy) + "/config_dump";
  std::optional<json> dump = fetchJson(dump_url, "the proxy's /config_dump", error);
  if (!dump.has_value()) {
    return fail(args, error);
  }
  std::optional<ProxyConfig> proxy = cutConfigDump(*dump, error);
  if (!proxy.has_value()) {
    return fail(args, error);
  }
  if (!proxy->node_id.empty() && proxy->node_id != args.node) {
    return fail(args,
                "the proxy at " + args.proxy + " is node " + proxy->node_id + ", not " + args.node);
  }
  std::vector<Difference> differences = compareResources(intended->resources, proxy->resources);
  if (args.as_json) {
    std::cout << diffJson(args.node, intended->group, differences).dump(2) << "\n";
  } else {
    std::cout << renderDiffs(args.node, differences,
                             hasSecrets(intended->resources, proxy->resources));
  }
  return differences.empty() ? kDiffSame : kDiffDiffers;
}

}  // namespace strait::ctl
