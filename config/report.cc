#include "config/report.h"

#include <nlohmann/json.hpp>

namespace strait::config {

namespace {

using nlohmann::json;

// Reads fields under a path; the first problem is kept, with the path to it.
class Reader {
 public:
  explicit Reader(std::string& error) : error_(error) {}

  bool ok() const { return error_.empty(); }
  void fail(const std::string& path, std::string_view message) {
    if (error_.empty()) {
      error_ = path + ": " + std::string(message);
    }
  }
  const json* field(const json& object, const std::string& path, const char* key,
                    json::value_t type, const char* expected) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
      return nullptr;
    }
    bool matches = it->type() == type ||
                   (type == json::value_t::number_unsigned && it->is_number_unsigned());
    if (!matches) {
      fail(path + key, expected);
      return nullptr;
    }
    return &*it;
  }
  void string(const json& object, const std::string& path, const char* key, std::string& out) {
    if (const json* value = field(object, path, key, json::value_t::string, "expected a string")) {
      out = value->get<std::string>();
    }
  }
  void count(const json& object, const std::string& path, const char* key, uint64_t& out) {
    if (const json* value = field(object, path, key, json::value_t::number_unsigned,
                                  "expected a non-negative integer")) {
      out = value->get<uint64_t>();
    }
  }
  void flag(const json& object, const std::string& path, const char* key, bool& out) {
    if (const json* value = field(object, path, key, json::value_t::boolean,
                                  "expected true or false")) {
      out = value->get<bool>();
    }
  }
  const json* object(const json& parent, const std::string& path, const char* key) {
    return field(parent, path, key, json::value_t::object, "expected an object");
  }
  const json* list(const json& parent, const std::string& path, const char* key) {
    return field(parent, path, key, json::value_t::array, "expected a list");
  }

 private:
  std::string& error_;
};

std::string at(const std::string& path, const char* key, size_t i) {
  return path + key + "[" + std::to_string(i) + "]";
}

void readCluster(Reader& in, const json& item, const std::string& path, ClusterReport& out) {
  in.string(item, path, "name", out.name);
  if (in.ok() && out.name.empty()) {
    in.fail(path + "name", "required, a non-empty string");
  }
  if (const json* endpoints = in.list(item, path, "endpoints")) {
    for (size_t i = 0; i < endpoints->size() && in.ok(); i++) {
      std::string p = at(path, "endpoints", i);
      const json& e = (*endpoints)[i];
      if (!e.is_object()) {
        in.fail(p, "expected an object");
        break;
      }
      EndpointReport endpoint;
      p += ".";
      in.string(e, p, "address", endpoint.address);
      in.string(e, p, "locality", endpoint.locality);
      std::string health = "healthy";
      in.string(e, p, "health", health);
      if (in.ok() && health != "healthy" && health != "unhealthy") {
        in.fail(p + "health", "expected \"healthy\" or \"unhealthy\"");
      }
      endpoint.healthy = health == "healthy";
      in.flag(e, p, "ejected", endpoint.ejected);
      in.count(e, p, "requests", endpoint.requests);
      in.count(e, p, "errors", endpoint.errors);
      out.endpoints.push_back(std::move(endpoint));
    }
  }
  if (const json* open = in.list(item, path, "breakers_open")) {
    for (size_t i = 0; i < open->size() && in.ok(); i++) {
      if (!(*open)[i].is_string()) {
        in.fail(at(path, "breakers_open", i), "expected a string");
        break;
      }
      out.breakers_open.push_back((*open)[i].get<std::string>());
    }
  }
  if (const json* weights = in.object(item, path, "locality_weights")) {
    for (const auto& [locality, weight] : weights->items()) {
      if (!weight.is_number_unsigned()) {
        in.fail(path + "locality_weights." + locality, "expected a non-negative integer");
        break;
      }
      out.locality_weights.push_back({locality, weight.get<uint64_t>()});
    }
  }
  if (const json* concurrency = in.object(item, path, "concurrency")) {
    ConcurrencyReport limit;
    in.count(*concurrency, path + "concurrency.", "limit", limit.limit);
    in.count(*concurrency, path + "concurrency.", "floor", limit.floor);
    out.concurrency = limit;
  }
}

}  // namespace

std::string serialize(const ProxyReport& report) {
  json body = json::object();
  body["node"] = {{"id", report.node.id}, {"cluster", report.node.cluster}};
  body["interval_ms"] = report.interval_ms;
  body["window_ms"] = report.window_ms;
  if (!report.admin.empty()) {
    body["admin"] = report.admin;
  }
  json applied = json::object();
  for (ResourceType type : kPushOrder) {
    const std::string& version = report.applied[static_cast<size_t>(type)];
    if (!version.empty()) {
      applied[std::string(typeName(type))] = version;
    }
  }
  body["applied"] = applied;
  json clusters = json::array();
  for (const ClusterReport& cluster : report.clusters) {
    json c = {{"name", cluster.name}};
    json endpoints = json::array();
    for (const EndpointReport& e : cluster.endpoints) {
      endpoints.push_back({{"address", e.address},
                           {"locality", e.locality},
                           {"health", e.healthy ? "healthy" : "unhealthy"},
                           {"ejected", e.ejected},
                           {"requests", e.requests},
                           {"errors", e.errors}});
    }
    c["endpoints"] = endpoints;
    c["breakers_open"] = cluster.breakers_open;
    json weights = json::object();
    for (const LocalityWeight& w : cluster.locality_weights) {
      weights[w.locality] = w.weight;
    }
    c["locality_weights"] = weights;
    if (cluster.concurrency.has_value()) {
      c["concurrency"] = {{"limit", cluster.concurrency->limit},
                          {"floor", cluster.concurrency->floor}};
    }
    clusters.push_back(std::move(c));
  }
  body["clusters"] = clusters;
  return json{{"report", body}}.dump();
}

bool isReportLine(std::string_view line) {
  size_t i = line.find_first_not_of(" \t\r");
  if (i == std::string_view::npos || line[i] != '{') {
    return false;
  }
  i = line.find_first_not_of(" \t\r", i + 1);
  return i != std::string_view::npos && line.substr(i, 8) == "\"report\"";
}

std::optional<ProxyReport> parseReport(std::string_view line, std::string& error) {
  error.clear();
  if (line.size() > kMaxMessageBytes) {
    error = "report of " + std::to_string(line.size()) + " bytes, over the limit";
    return std::nullopt;
  }
  json doc = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    error = doc.is_discarded() ? "not valid JSON" : "expected a JSON object";
    return std::nullopt;
  }
  auto body = doc.find("report");
  if (body == doc.end() || !body->is_object()) {
    error = "report: required, an object";
    return std::nullopt;
  }
  Reader in(error);
  ProxyReport report;
  const std::string path = "report.";
  if (const json* node = in.object(*body, path, "node")) {
    in.string(*node, path + "node.", "id", report.node.id);
    in.string(*node, path + "node.", "cluster", report.node.cluster);
  }
  in.count(*body, path, "interval_ms", report.interval_ms);
  in.count(*body, path, "window_ms", report.window_ms);
  in.string(*body, path, "admin", report.admin);
  if (const json* applied = in.object(*body, path, "applied")) {
    for (const auto& [name, version] : applied->items()) {
      std::optional<ResourceType> type = typeFromName(name);
      if (!type.has_value()) {
        continue;  // a type this side does not know yet (forward compatibility)
      }
      if (!version.is_string()) {
        in.fail(path + "applied." + name, "expected a string");
        break;
      }
      report.applied[static_cast<size_t>(*type)] = version.get<std::string>();
    }
  }
  if (const json* clusters = in.list(*body, path, "clusters")) {
    for (size_t i = 0; i < clusters->size() && in.ok(); i++) {
      std::string p = at(path, "clusters", i);
      if (!(*clusters)[i].is_object()) {
        in.fail(p, "expected an object");
        break;
      }
      ClusterReport cluster;
      readCluster(in, (*clusters)[i], p + ".", cluster);
      report.clusters.push_back(std::move(cluster));
    }
  }
  if (!in.ok()) {
    return std::nullopt;
  }
  return report;
}

}  // namespace strait::config
