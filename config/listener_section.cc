// listeners[]: address, TLS termination, HTTP options and the filter chain.

#include "config/canonical.h"
#include "config/filter_registry.h"
#include "config/raw_config.h"
#include "config/sections.h"

namespace strait::config::internal {
namespace {

// `secret: NAME` in a TLS block, recorded for the check once every secret is known.
std::string readSecretReference(const MapReader& map, ParseContext& context,
                                bool needs_certificate, bool needs_ca) {
  std::optional<Value> secret = map.get("secret");
  if (!secret.has_value()) {
    return "";
  }
  std::string name = secret->nonEmptyString().value_or("");
  if (!name.empty()) {
    context.secret_references.push_back({NameAt{name, *secret}, needs_certificate, needs_ca});
  }
  return name;
}

TlsCertificate parseCertificate(const Value& value, ParseContext& context) {
  TlsCertificate certificate;
  MapReader map(value, {"cert", "key", "secret", "server_names"});
  certificate.secret = readSecretReference(map, context, true, false);
  if (map.has("secret")) {
    if (map.has("cert") || map.has("key")) {
      map.error("give either secret or cert and key, not both");
    }
  } else {
    if (std::optional<Value> cert = map.require("cert")) {
      certificate.cert = cert->nonEmptyString().value_or("");
    }
    if (std::optional<Value> key = map.require("key")) {
      certificate.key = key->nonEmptyString().value_or("");
    }
  }
  if (std::optional<Value> names = map.get("server_names")) {
    for (const Value& item : names->items()) {
      if (std::optional<std::string> name = parseDomain(item, false)) {
        certificate.server_names.push_back(std::move(*name));
      }
    }
  }
  return certificate;
}

ClientValidation parseClientValidation(const Value& value, ParseContext& context) {
  ClientValidation validation;
  MapReader map(value, {"require_client_certificate", "trust_bundles"});
  map.readBool("require_client_certificate", validation.require_client_certificate);
  if (std::optional<Value> bundles = map.require("trust_bundles")) {
    std::vector<Value> items = bundles->items();
    if (items.empty() && bundles->node().isList()) {
      bundles->error("expected at least one trust bundle (a {trust_domain, ca} map)");
    }
    for (const Value& item : items) {
      TrustBundle bundle;
      MapReader entry(item, {"trust_domain", "ca", "secret"});
      if (std::optional<Value> domain = entry.require("trust_domain")) {
        bundle.trust_domain = domain->nonEmptyString().value_or("");
      }
      bundle.secret = readSecretReference(entry, context, false, true);
      if (entry.has("secret") && entry.has("ca")) {
        entry.error("give either secret or ca, not both");
      } else if (!entry.has("secret")) {
        if (std::optional<Value> ca = entry.require("ca")) {
          bundle.ca = ca->nonEmptyString().value_or("");
        }
      }
      validation.trust_bundles.push_back(std::move(bundle));
    }
  }
  return validation;
}

ListenerTls parseListenerTls(const Value& value, ParseContext& context) {
  ListenerTls tls;
  MapReader map(value, {"certificates", "alpn", "client_validation"});
  if (std::optional<Value> certificates = map.require("certificates")) {
    std::vector<Value> items = certificates->items();
    if (items.empty() && certificates->node().isList()) {
      certificates->error("expected at least one certificate (a {cert, key} or {secret} map)");
    }
    for (const Value& item : items) {
      tls.certificates.push_back(parseCertificate(item, context));
    }
  }
  if (std::optional<Value> alpn = map.get("alpn")) {
    std::vector<std::string> protocols;
    for (const Value& item : alpn->items()) {
      // The codecs exist for exactly these two; anything else could never be served.
      if (std::optional<std::string> protocol =
              item.oneOf<std::string>({{"h2", "h2"}, {"http/1.1", "http/1.1"}})) {
        protocols.push_back(std::move(*protocol));
      }
    }
    if (protocols.empty() && alpn->node().isList()) {
      alpn->error("expected at least one protocol (h2, http/1.1)");
    }
    tls.alpn = std::move(protocols);
  }
  if (std::optional<Value> validation = map.get("client_validation")) {
    tls.client_validation = parseClientValidation(*validation, context);
  }
  return tls;
}

// Filter `filter.name` with its `config` block (absent: an empty map), parsed by the filter's
// own parser; `name` is where an unknown filter name is reported.
void parseFilterBlock(FilterConfig& filter, const Value& name, const std::optional<Value>& config,
                      const Value& entry) {
  // An entry without `config` gets an undefined node, as a parser sees it.
  filter.raw = std::make_shared<const RawConfig>(
      RawConfig{config.has_value() ? config->node() : TreeNode()});
  if (config.has_value()) {
    filter.canonical = canonicalJson(config->node());
  }
  if (filter.name.empty()) {
    return;
  }
  const FilterConfigParser* parser = findFilterParser(filter.name);
  if (parser == nullptr) {
    std::vector<std::string> known = registeredFilterNames();
    std::vector<std::string_view> views(known.begin(), known.end());
    std::string message = "unknown filter " + quote(filter.name);
    if (std::optional<std::string_view> near = nearestKey(filter.name, views)) {
      message += " (did you mean " + quote(*near) + "?)";
    }
    name.error(message + "; known filters: " + (views.empty() ? "none" : joinNames(views)));
    return;
  }
  // Each filter validates its own block; a missing block reads as an empty map.
  static const TreeNode kEmptyMap(TreeNode::Kind::Map);
  Value block = config.has_value() ? *config : Value(kEmptyMap, filter.config_path, entry.errors());
  filter.settings = (*parser)(block);
}

// `filter_config: NAME`: the entry takes the named filter config (its filter and its block).
FilterConfig referencedFilter(const MapReader& map, const Value& reference,
                              const ParseContext& context) {
  FilterConfig filter;
  std::string wanted = reference.nonEmptyString().value_or("");
  if (map.has("config")) {
    map.error("give either config or filter_config, not both");
  }
  auto it = context.filter_configs.find(wanted);
  if (it == context.filter_configs.end()) {
    if (!wanted.empty()) {
      std::vector<std::string_view> names;
      for (const auto& [known, unused] : context.filter_configs) {
        names.push_back(known);
      }
      std::string message = "unknown filter config " + quote(wanted);
      if (std::optional<std::string_view> near = nearestKey(wanted, names)) {
        message += " (did you mean " + quote(*near) + "?)";
      } else {
        message += names.empty() ? " (no filter_configs are defined)"
                                 : " (defined: " + joinNames(names) + ")";
      }
      reference.error(message);
    }
    return filter;
  }
  filter = it->second;
  filter.from = wanted;
  if (std::optional<Value> name = map.get("name")) {
    std::string given = name->nonEmptyString().value_or("");
    if (!given.empty() && given != filter.name) {
      name->error("filter config " + quote(wanted) + " is for filter " + quote(filter.name) +
                  ", not " + quote(given));
    }
  }
  return filter;
}

FilterConfig parseFilter(const Value& value, const ParseContext& context) {
  MapReader map(value, {"name", "config", "filter_config"});
  if (std::optional<Value> reference = map.get("filter_config")) {
    return referencedFilter(map, *reference, context);
  }
  FilterConfig filter;
  std::optional<Value> name = map.require("name");
  if (name.has_value()) {
    filter.name = name->nonEmptyString().value_or("");
  }
  filter.config_path = childPath(value.path(), "config");
  if (name.has_value()) {
    parseFilterBlock(filter, *name, map.get("config"), value);
  }
  return filter;
}

}  // namespace

NamedFilterConfig parseFilterConfigResource(const Value& value) {
  NamedFilterConfig out;
  MapReader map(value, {"name", "filter", "config"});
  if (std::optional<Value> name = map.require("name")) {
    out.name = name->nonEmptyString().value_or("");
  }
  std::optional<Value> filter = map.require("filter");
  if (filter.has_value()) {
    out.filter.name = filter->nonEmptyString().value_or("");
  }
  out.filter.config_path = childPath(value.path(), "config");
  if (filter.has_value()) {
    parseFilterBlock(out.filter, *filter, map.get("config"), value);
  }
  return out;
}

namespace {

// Window sizes are at most 2^31-1 bytes (RFC 9113 6.9.1): 2097151 KiB.
constexpr uint64_t kMaxWindowKb = 2097151;

Http2Options parseHttp2(const Value& value) {
  Http2Options http2;
  MapReader map(value, {"max_concurrent_streams", "initial_stream_window_kb",
                        "initial_connection_window_kb"});
  map.readUint32("max_concurrent_streams", http2.max_concurrent_streams, 1, 2147483647);
  map.readUint32("initial_stream_window_kb", http2.initial_stream_window_kb, 1, kMaxWindowKb);
  // The connection window starts at 65535 bytes and can only be raised.
  map.readUint32("initial_connection_window_kb", http2.initial_connection_window_kb, 64,
                 kMaxWindowKb);
  return http2;
}

HttpOptions parseHttp(const Value& value, const ParseContext& context) {
  HttpOptions http;
  MapReader map(value, {"max_request_headers_kb", "max_headers", "max_request_body_kb",
                        "request_headers_timeout", "idle_timeout", "use_remote_address",
                        "generate_request_id", "http2", "filters"});
  map.readUint32("max_request_headers_kb", http.max_request_headers_kb, 1, UINT32_MAX);
  map.readUint32("max_headers", http.max_headers, 1, UINT32_MAX);
  map.readUint32("max_request_body_kb", http.max_request_body_kb, 0, UINT32_MAX);
  map.readDuration("request_headers_timeout", http.request_headers_timeout);
  map.readDuration("idle_timeout", http.idle_timeout);
  map.readBool("use_remote_address", http.use_remote_address);
  map.readBool("generate_request_id", http.generate_request_id);
  if (std::optional<Value> http2 = map.get("http2")) {
    http.http2 = parseHttp2(*http2);
  }
  if (std::optional<Value> filters = map.get("filters")) {
    for (const Value& item : filters->items()) {
      http.filters.push_back(parseFilter(item, context));
    }
  }
  return http;
}

}  // namespace

Listener parseListener(const Value& value, ParseContext& context) {
  Listener listener;
  MapReader map(value,
                {"name", "address", "port", "tls", "forward_client_cert", "http", "virtual_hosts"});
  if (std::optional<Value> name = map.require("name")) {
    if (std::optional<std::string> text = name->nonEmptyString()) {
      listener.name = *text;
      context.listener_names.push_back(NameAt{*text, *name});
    }
  }
  if (std::optional<Value> address = map.get("address")) {
    listener.address = address->nonEmptyString().value_or(listener.address);
  }
  // Port 0 asks the kernel for a free port: tests and the admin API rely on it.
  map.readUint16("port", listener.port, 0, 65535);
  if (std::optional<Value> tls = map.get("tls")) {
    listener.tls = parseListenerTls(*tls, context);
  }
  if (std::optional<Value> xfcc = map.get("forward_client_cert")) {
    listener.forward_client_cert =
        xfcc->oneOf<ForwardClientCert>({{"sanitize", ForwardClientCert::Sanitize},
                                        {"append_forward", ForwardClientCert::AppendForward}})
            .value_or(ForwardClientCert::Sanitize);
  }
  if (std::optional<Value> http = map.get("http")) {
    listener.http = parseHttp(*http, context);
  }
  if (std::optional<Value> hosts = map.get("virtual_hosts")) {
    listener.virtual_hosts = parseVirtualHosts(*hosts, context);
  }
  listener.canonical = canonicalJson(value.node());
  // A filter taken from filter_configs is part of what the listener runs: a change of that
  // config alone must not read as "the same listener" (the proxy keeps an unchanged listener).
  for (const FilterConfig& filter : listener.http.filters) {
    if (!filter.from.empty()) {
      listener.canonical += "\nfilter_config " + filter.from + " " + filter.name + " " +
                            filter.canonical;
    }
  }
  return listener;
}

}  // namespace strait::config::internal
