// Entry points of the config area: read the file, parse the top-level sections, then run the
// checks that span sections (unique names, cluster references).

#include "config/loader.h"

#include <charconv>
#include <exception>
#include <fstream>
#include <map>
#include <sstream>

#include "config/canonical.h"
#include "config/sections.h"
#include "config/tree.h"
#include "config/yaml_reader.h"

namespace strait::config {

std::string ConfigError::toString() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line) + ":" + std::to_string(column);
  }
  out += ": ";
  if (!path.empty()) {
    out += path + ": ";
  }
  out += message;
  return out;
}

std::optional<ListPath> splitListPath(const std::string& path) {
  size_t open = path.find('[');
  size_t close = path.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return std::nullopt;
  }
  ListPath out;
  out.list = path.substr(0, open);
  auto [ptr, ec] = std::from_chars(path.data() + open + 1, path.data() + close, out.index);
  if (ec != std::errc() || ptr != path.data() + close) {
    return std::nullopt;
  }
  out.rest = path.substr(close + 1);
  return out;
}

namespace {

using internal::ErrorList;
using internal::MapReader;
using internal::NameAt;
using internal::ParseContext;
using internal::Value;

Node parseNode(const Value& value) {
  Node node;
  MapReader map(value, {"id", "cluster", "locality"});
  if (std::optional<Value> id = map.get("id")) {
    node.id = id->nonEmptyString().value_or(node.id);
  }
  if (std::optional<Value> cluster = map.get("cluster")) {
    node.cluster = cluster->nonEmptyString().value_or(node.cluster);
  }
  if (std::optional<Value> locality = map.get("locality")) {
    node.locality = internal::parseLocality(*locality);
  }
  return node;
}

Admin parseAdmin(const Value& value) {
  Admin admin;
  MapReader map(value, {"address", "port"});
  if (std::optional<Value> address = map.get("address")) {
    admin.address = address->nonEmptyString().value_or(admin.address);
  }
  map.readUint16("port", admin.port, 0, 65535);
  return admin;
}

AccessLog parseAccessLog(const Value& value) {
  AccessLog log;
  MapReader map(value, {"path", "format"});
  if (std::optional<Value> path = map.require("path")) {
    log.path = path->nonEmptyString().value_or("");
  }
  if (std::optional<Value> format = map.get("format")) {
    log.format = format
                     ->oneOf<AccessLogFormat>(
                         {{"json", AccessLogFormat::Json}, {"text", AccessLogFormat::Text}})
                     .value_or(log.format);
  }
  return log;
}

Drain parseDrain(const Value& value) {
  Drain drain;
  MapReader map(value, {"delay", "timeout"});
  map.readDuration("delay", drain.delay);
  map.readDuration("timeout", drain.timeout);
  return drain;
}

// "host:port" or "[v6]:port" with a port from 1 to 65535.
bool isHostPort(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return false;
  }
  std::string_view host = text.substr(0, colon);
  if (host.find(':') != std::string_view::npos && !(host.front() == '[' && host.back() == ']')) {
    return false;  // a bare IPv6 address is ambiguous without brackets
  }
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  return ec == std::errc() && ptr == port_text.data() + port_text.size() && port >= 1 &&
         port <= 65535;
}

ControlPlane parseControlPlane(const Value& value) {
  ControlPlane control_plane;
  MapReader map(value, {"address", "tls", "persist", "report_interval", "local_overrides"});
  map.readString("persist", control_plane.persist);
  map.readDuration("report_interval", control_plane.report_interval, /*allow_zero=*/false);
  map.readStringList("local_overrides", control_plane.local_overrides);
  if (control_plane.persist.empty()) {
    map.error("persist: expected a file name (default last-good.json)");
    control_plane.persist = "last-good.json";
  }
  if (std::optional<Value> address = map.require("address")) {
    if (std::optional<std::string> text = address->string()) {
      if (isHostPort(*text)) {
        control_plane.address = *text;
      } else {
        address->error("expected host:port (e.g. 127.0.0.1:18000), got " + internal::quote(*text));
      }
    }
  }
  if (std::optional<Value> tls = map.get("tls")) {
    TlsFiles files;
    MapReader tls_map(*tls, {"ca", "cert", "key"});
    for (auto [key, field] : {std::pair{"ca", &files.ca}, std::pair{"cert", &files.cert},
                              std::pair{"key", &files.key}}) {
      if (std::optional<Value> file = tls_map.require(key)) {
        *field = file->nonEmptyString().value_or("");
      }
    }
    control_plane.tls = std::move(files);
  }
  return control_plane;
}

// Reports every name in `names` that repeats an earlier one, at the repeat.
void checkUnique(const std::vector<NameAt>& names, std::string_view what) {
  std::map<std::string, const NameAt*> first;
  for (const NameAt& name : names) {
    auto [it, inserted] = first.emplace(name.name, &name);
    if (!inserted) {
      name.at.error("duplicate " + std::string(what) + " name " + internal::quote(name.name) +
                    " (first defined at line " + std::to_string(it->second->at.mark().line + 1) +
                    ", " + it->second->at.path() + ")");
    }
  }
}

void checkClusterReferences(const ParseContext& context) {
  std::map<std::string, bool> known;
  for (const NameAt& name : context.cluster_names) {
    known[name.name] = true;
  }
  for (const NameAt& reference : context.cluster_references) {
    if (known.count(reference.name) == 0) {
      std::string message = "unknown cluster " + internal::quote(reference.name);
      std::vector<std::string_view> names;
      for (const auto& [name, unused] : known) {
        names.push_back(name);
      }
      if (std::optional<std::string_view> nearest = internal::nearestKey(reference.name, names)) {
        message += " (did you mean " + internal::quote(*nearest) + "?)";
      } else if (names.empty()) {
        message += " (no clusters are defined)";
      } else {
        message += " (defined: " + internal::joinNames(names) + ")";
      }
      reference.at.error(std::move(message));
    }
  }
}

// Every `secret: NAME` must name a secret that holds what its block needs; the blocks then get
// the secret's files.
void resolveSecrets(const ParseContext& context, const std::vector<NameAt>& secret_names,
                    Bootstrap& bootstrap) {
  std::map<std::string, const Secret*> known;
  for (const Secret& secret : bootstrap.secrets) {
    known.emplace(secret.name, &secret);
  }
  for (const ParseContext::SecretReference& reference : context.secret_references) {
    auto it = known.find(reference.name.name);
    if (it == known.end()) {
      std::vector<std::string_view> names;
      for (const NameAt& name : secret_names) {
        names.push_back(name.name);
      }
      std::string message = "unknown secret " + internal::quote(reference.name.name);
      if (std::optional<std::string_view> nearest =
              internal::nearestKey(reference.name.name, names)) {
        message += " (did you mean " + internal::quote(*nearest) + "?)";
      } else {
        message += names.empty() ? " (no secrets are defined)"
                                 : " (defined: " + internal::joinNames(names) + ")";
      }
      reference.name.at.error(std::move(message));
    } else if (reference.needs_certificate && it->second->cert.empty()) {
      reference.name.at.error("secret " + internal::quote(reference.name.name) +
                              " has no cert and key (a certificate is needed here)");
    } else if (reference.needs_ca && it->second->ca.empty()) {
      reference.name.at.error("secret " + internal::quote(reference.name.name) +
                              " has no ca (a trust bundle is needed here)");
    }
  }
  auto find = [&](const std::string& name) -> const Secret* {
    auto it = known.find(name);
    return it != known.end() ? it->second : nullptr;
  };
  for (Listener& listener : bootstrap.listeners) {
    if (!listener.tls.has_value()) {
      continue;
    }
    for (TlsCertificate& certificate : listener.tls->certificates) {
      if (const Secret* secret = find(certificate.secret)) {
        certificate.cert = secret->cert;
        certificate.key = secret->key;
      }
    }
    if (listener.tls->client_validation.has_value()) {
      for (TrustBundle& bundle : listener.tls->client_validation->trust_bundles) {
        if (const Secret* secret = find(bundle.secret)) {
          bundle.ca = secret->ca;
        }
      }
    }
  }
  for (Cluster& cluster : bootstrap.clusters) {
    if (cluster.tls.has_value()) {
      if (const Secret* secret = find(cluster.tls->secret)) {
        cluster.tls->ca = secret->ca;
        cluster.tls->cert = secret->cert;
        cluster.tls->key = secret->key;
      }
    }
  }
}

// Each control_plane.local_overrides name is a cluster or a listener of the file.
void checkLocalOverrides(const MapReader& root, const ParseContext& context) {
  std::optional<Value> control_plane = root.get("control_plane");
  const TreeNode* node = control_plane.has_value() && control_plane->isMap()
                             ? control_plane->node().find("local_overrides")
                             : nullptr;
  if (node == nullptr || !node->isList()) {
    return;
  }
  std::optional<Value> list =
      Value(*node, control_plane->path() + ".local_overrides", control_plane->errors());
  for (const Value& item : list->items()) {
    std::optional<std::string> name = item.string();
    if (!name.has_value()) {
      continue;  // readStringList said so
    }
    bool found = false;
    for (const auto* names : {&context.cluster_names, &context.listener_names}) {
      for (const NameAt& named : *names) {
        found = found || named.name == *name;
      }
    }
    if (!found) {
      item.error("no cluster or listener named " + internal::quote(*name) +
                 " in this file to override the control plane's with");
    }
  }
}

Bootstrap parseBootstrap(const Value& root) {
  Bootstrap bootstrap;
  ParseContext context;
  MapReader map(root, {"node", "admin", "workers", "access_log", "drain", "control_plane",
                       "carbon_signals", "secrets", "filter_configs", "listeners", "clusters"});
  if (std::optional<Value> node = map.get("node")) {
    bootstrap.node = parseNode(*node);
  }
  if (std::optional<Value> admin = map.get("admin")) {
    bootstrap.admin = parseAdmin(*admin);
  }
  // 0 stays 0 here: the server resolves it to the CPU count at start-up.
  map.readUint32("workers", bootstrap.workers, 0, 256);
  if (std::optional<Value> log = map.get("access_log")) {
    bootstrap.access_log = parseAccessLog(*log);
  }
  if (std::optional<Value> drain = map.get("drain")) {
    bootstrap.drain = parseDrain(*drain);
  }
  if (std::optional<Value> control_plane = map.get("control_plane")) {
    bootstrap.control_plane = parseControlPlane(*control_plane);
  }
  if (std::optional<Value> carbon = map.get("carbon_signals")) {
    CarbonSignals signals;
    MapReader carbon_map(*carbon, {"provider", "path", "refresh", "signal", "default_ttl"});
    if (std::optional<Value> provider = carbon_map.get("provider")) {
      signals.provider = provider
                             ->oneOf<std::string>({{"file", "file"},
                                                   {"electricity_maps", "electricity_maps"},
                                                   {"carbon_aware_sdk", "carbon_aware_sdk"},
                                                   {"uk_carbon_intensity", "uk_carbon_intensity"}})
                             .value_or(signals.provider);
      if (signals.provider != "file") {
        provider->error("provider " + signals.provider +
                        " is not built yet (its payloads are parsed, its poller is not): use "
                        "file, or strait-cp");
      }
    }
    if (signals.provider == "file") {
      if (std::optional<Value> path = carbon_map.require("path")) {
        signals.path = path->nonEmptyString().value_or("");
      }
    }
    carbon_map.readDuration("refresh", signals.refresh, false);
    if (std::optional<Value> signal = carbon_map.get("signal")) {
      signals.signal = signal->oneOf<CarbonSignalType>({{"average", CarbonSignalType::Average},
                                                        {"marginal", CarbonSignalType::Marginal}})
                           .value_or(signals.signal);
    }
    carbon_map.readDuration("default_ttl", signals.default_ttl, false);
    bootstrap.carbon_signals = signals;
  }
  std::vector<NameAt> secret_names;
  if (std::optional<Value> secrets = map.get("secrets")) {
    for (const Value& item : secrets->items()) {
      bootstrap.secrets.push_back(internal::parseSecret(item));
      if (!bootstrap.secrets.back().name.empty()) {
        secret_names.push_back(NameAt{bootstrap.secrets.back().name, item});
      }
    }
  }
  std::vector<NameAt> filter_config_names;
  if (std::optional<Value> filter_configs = map.get("filter_configs")) {
    for (const Value& item : filter_configs->items()) {
      NamedFilterConfig named = internal::parseFilterConfigResource(item);
      if (!named.name.empty()) {
        filter_config_names.push_back(NameAt{named.name, item});
        context.filter_configs.emplace(named.name, named.filter);
      }
      bootstrap.filter_configs.push_back(std::move(named));
    }
  }
  if (std::optional<Value> listeners = map.get("listeners")) {
    for (const Value& item : listeners->items()) {
      bootstrap.listeners.push_back(internal::parseListener(item, context));
    }
  }
  if (std::optional<Value> clusters = map.get("clusters")) {
    for (const Value& item : clusters->items()) {
      bootstrap.clusters.push_back(internal::parseCluster(item, context));
    }
  }
  checkUnique(context.listener_names, "listener");
  checkUnique(context.cluster_names, "cluster");
  checkUnique(secret_names, "secret");
  checkUnique(filter_config_names, "filter config");
  checkClusterReferences(context);
  resolveSecrets(context, secret_names, bootstrap);
  checkLocalOverrides(map, context);
  return bootstrap;
}

LoadResult failed(ErrorList& errors) {
  LoadResult result;
  result.errors = errors.take();
  return result;
}

}  // namespace

LoadResult loadTree(const TreeNode& document, const std::string& file) {
  ErrorList errors(file);
  try {
    if (!document.isDefined() || document.isNull()) {
      errors.add(Mark{}, "", "the file is empty (expected a map with listeners, clusters, ...)");
      return failed(errors);
    }
    Bootstrap bootstrap = parseBootstrap(Value(document, "", errors));
    if (!errors.empty()) {
      return failed(errors);
    }
    bootstrap.canonical = canonicalJson(document);
    LoadResult result;
    result.bootstrap = std::make_shared<const Bootstrap>(std::move(bootstrap));
    return result;
  } catch (const std::exception& e) {
    errors.add(Mark{}, "", std::string("internal error: ") + e.what());
  }
  return failed(errors);
}

LoadResult loadJson(std::string_view json, const std::string& file) {
  SyntaxError syntax;
  std::optional<TreeNode> document = parseJson(json, syntax);
  if (!document.has_value()) {
    ErrorList errors(file);
    errors.add(syntax.mark, "", "invalid JSON: " + syntax.message);
    return failed(errors);
  }
  return loadTree(*document, file);
}

LoadResult loadString(const std::string& yaml, const std::string& file) {
  SyntaxError syntax;
  std::optional<TreeNode> document = parseYaml(yaml, syntax);
  if (!document.has_value()) {
    ErrorList errors(file);
    errors.add(syntax.mark, "", "invalid YAML: " + syntax.message);
    return failed(errors);
  }
  return loadTree(*document, file);
}

LoadResult loadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in) {
    text << in.rdbuf();
  }
  if (!in || in.bad()) {
    ErrorList errors(path);
    errors.add(Mark{}, "", "cannot read the file");
    return failed(errors);
  }
  return loadFileText(text.str(), path);
}

LoadResult loadFileText(const std::string& text, const std::string& path) {
  LoadResult result = loadString(text, path);
  if (result.bootstrap != nullptr) {
    auto bootstrap = std::make_shared<Bootstrap>(*result.bootstrap);
    bootstrap->source_path = path;
    result.bootstrap = std::move(bootstrap);
  }
  return result;
}

}  // namespace strait::config
