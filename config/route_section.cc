// virtual_hosts[] and their routes: matching, the three route kinds and header edits.

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include <re2/re2.h>

#include "config/sections.h"

namespace strait::config::internal {
namespace {

std::string toLower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// RFC 9110 token characters, the only ones a header name may hold.
bool isTokenChar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A header name, lower-cased. Pseudo-headers (":path") are allowed only for matching: the codecs
// own them, so adding or removing one is an error.
std::optional<std::string> parseHeaderName(const Value& value, bool allow_pseudo) {
  std::optional<std::string> text = value.nonEmptyString();
  if (!text.has_value()) {
    return std::nullopt;
  }
  std::string_view name = *text;
  bool pseudo = name.front() == ':';
  if (pseudo) {
    name.remove_prefix(1);
  }
  bool valid = !name.empty() && std::all_of(name.begin(), name.end(), isTokenChar);
  if (!valid) {
    value.error("invalid header name " + quote(*text) +
                " (letters, digits and !#$%&'*+-.^_`|~ only)");
    return std::nullopt;
  }
  if (pseudo && !allow_pseudo) {
    value.error("pseudo-header " + quote(*text) + " cannot be added or removed");
    return std::nullopt;
  }
  return toLower(*text);
}

// Reports `re.error()` when `pattern` is not a valid RE2 expression.
bool checkRegex(const Value& value, const std::string& pattern, bool case_sensitive) {
  re2::RE2::Options options;
  options.set_log_errors(false);  // the error goes into the config error, not to stderr
  options.set_case_sensitive(case_sensitive);
  re2::RE2 re(pattern, options);
  if (!re.ok()) {
    value.error("invalid regular expression " + quote(pattern) + ": " + re.error() +
                " (RE2 syntax)");
    return false;
  }
  return true;
}

std::vector<HeaderValue> parseHeadersToAdd(const Value& value) {
  std::vector<HeaderValue> headers;
  for (const Value& item : value.items()) {
    HeaderValue header;
    MapReader map(item, {"name", "value", "append"});
    if (std::optional<Value> name = map.require("name")) {
      header.name = parseHeaderName(*name, false).value_or("");
    }
    if (std::optional<Value> text = map.require("value")) {
      header.value = text->string().value_or("");
    }
    map.readBool("append", header.append);
    headers.push_back(std::move(header));
  }
  return headers;
}

std::vector<std::string> parseHeadersToRemove(const Value& value) {
  std::vector<std::string> names;
  for (const Value& item : value.items()) {
    if (std::optional<std::string> name = parseHeaderName(item, false)) {
      names.push_back(std::move(*name));
    }
  }
  return names;
}

// The header edits a route takes; they are also accepted inside the route action (CONFIG.md
// shows request_headers_to_add there), and both places append to the same lists.
constexpr std::string_view kHeaderEditKeys[] = {
    "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add",
    "response_headers_to_remove"};

void parseHeaderEdits(const MapReader& map, Route& route) {
  auto append = [](auto& to, auto from) {
    to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  };
  if (std::optional<Value> value = map.get(kHeaderEditKeys[0])) {
    append(route.request_headers_to_add, parseHeadersToAdd(*value));
  }
  if (std::optional<Value> value = map.get(kHeaderEditKeys[1])) {
    append(route.request_headers_to_remove, parseHeadersToRemove(*value));
  }
  if (std::optional<Value> value = map.get(kHeaderEditKeys[2])) {
    append(route.response_headers_to_add, parseHeadersToAdd(*value));
  }
  if (std::optional<Value> value = map.get(kHeaderEditKeys[3])) {
    append(route.response_headers_to_remove, parseHeadersToRemove(*value));
  }
}

// Reports unless exactly one of `keys` is present in `map`; returns how many are present.
size_t requireExactlyOne(const MapReader& map, std::initializer_list<std::string_view> keys) {
  std::vector<std::string_view> present;
  for (std::string_view key : keys) {
    if (map.has(key)) {
      present.push_back(key);
    }
  }
  if (map.isMap() && present.size() != 1) {
    std::string message = "expected exactly one of " + joinNames(keys);
    if (present.empty()) {
      message += ", got none";
    } else {
      message += ", got " + std::string(present[0]);
      for (size_t i = 1; i < present.size(); ++i) {
        message += " and " + std::string(present[i]);
      }
    }
    map.error(std::move(message));
  }
  return present.size();
}

}  // namespace

HeaderMatcher parseHeaderMatcher(const Value& value) {
  HeaderMatcher matcher;
  MapReader map(value, {"name", "exact", "prefix", "suffix", "regex", "present", "invert"});
  if (std::optional<Value> name = map.require("name")) {
    matcher.name = parseHeaderName(*name, true).value_or("");
  }
  map.readBool("invert", matcher.invert);
  if (requireExactlyOne(map, {"exact", "prefix", "suffix", "regex", "present"}) != 1) {
    return matcher;
  }
  if (std::optional<Value> present = map.get("present")) {
    matcher.kind = StringMatchKind::Present;
    // "present: false" means "absent", which is the inverse of a presence match.
    if (std::optional<bool> flag = present->boolean(); flag == false) {
      matcher.invert = !matcher.invert;
    }
    return matcher;
  }
  std::pair<std::string_view, StringMatchKind> kinds[] = {{"exact", StringMatchKind::Exact},
                                                          {"prefix", StringMatchKind::Prefix},
                                                          {"suffix", StringMatchKind::Suffix},
                                                          {"regex", StringMatchKind::Regex}};
  for (const auto& [key, kind] : kinds) {
    if (std::optional<Value> text = map.get(key)) {
      matcher.kind = kind;
      matcher.value = text->string().value_or("");
      if (kind == StringMatchKind::Regex) {
        checkRegex(*text, matcher.value, true);
      }
    }
  }
  return matcher;
}

namespace {

RouteMatch parseMatch(const Value& value) {
  RouteMatch match;
  MapReader map(value, {"path", "prefix", "regex", "headers", "case_sensitive"});
  map.readBool("case_sensitive", match.case_sensitive);
  if (requireExactlyOne(map, {"path", "prefix", "regex"}) == 1) {
    std::pair<std::string_view, PathMatchKind> kinds[] = {{"path", PathMatchKind::Path},
                                                          {"prefix", PathMatchKind::Prefix},
                                                          {"regex", PathMatchKind::Regex}};
    for (const auto& [key, kind] : kinds) {
      std::optional<Value> text = map.get(key);
      if (!text.has_value()) {
        continue;
      }
      match.kind = kind;
      match.value = text->string().value_or("/");
      if (kind == PathMatchKind::Regex) {
        checkRegex(*text, match.value, match.case_sensitive);
      } else if (text->node().isScalar() && !match.value.starts_with('/')) {
        text->error("expected a path starting with \"/\", got " + quote(match.value));
      }
    }
  }
  if (std::optional<Value> headers = map.get("headers")) {
    for (const Value& item : headers->items()) {
      match.headers.push_back(parseHeaderMatcher(item));
    }
  }
  return match;
}

std::optional<RetryOn> parseRetryOn(const Value& value) {
  return value.oneOf<RetryOn>({{"5xx", RetryOn::FiveXx},
                               {"gateway-error", RetryOn::GatewayError},
                               {"reset", RetryOn::Reset},
                               {"connect-failure", RetryOn::ConnectFailure},
                               {"retriable-status-codes", RetryOn::RetriableStatusCodes}});
}

RetryPolicy parseRetry(const Value& value) {
  RetryPolicy retry;
  MapReader map(value, {"on", "attempts", "per_try_timeout", "retriable_status_codes", "backoff",
                        "non_idempotent", "max_body_bytes"});
  std::optional<Value> on = map.require("on");
  if (on.has_value()) {
    for (const Value& item : on->items()) {
      if (std::optional<RetryOn> condition = parseRetryOn(item)) {
        retry.on.push_back(*condition);
      }
    }
  }
  map.readUint32("attempts", retry.attempts, 0, 100);
  if (std::optional<Value> timeout = map.get("per_try_timeout")) {
    retry.per_try_timeout = timeout->duration(false);
  }
  if (std::optional<Value> codes = map.get("retriable_status_codes")) {
    for (const Value& item : codes->items()) {
      if (std::optional<uint64_t> code = item.integer(100, 599)) {
        retry.retriable_status_codes.push_back(static_cast<uint16_t>(*code));
      }
    }
  }
  bool wants_codes =
      std::find(retry.on.begin(), retry.on.end(), RetryOn::RetriableStatusCodes) != retry.on.end();
  if (wants_codes && retry.retriable_status_codes.empty() && !map.has("retriable_status_codes")) {
    on->error("retriable-status-codes needs a retriable_status_codes list beside it");
  }
  map.readBool("non_idempotent", retry.non_idempotent);
  map.readUint32("max_body_bytes", retry.max_body_bytes, 0, UINT32_MAX);
  if (std::optional<Value> backoff = map.get("backoff")) {
    MapReader backoff_map(*backoff, {"base", "max"});
    backoff_map.readDuration("base", retry.backoff_base, false);
    backoff_map.readDuration("max", retry.backoff_max, false);
    if (retry.backoff_max < retry.backoff_base) {
      backoff->error("backoff max must not be below base");
    }
  }
  return retry;
}

// `delay` is a duration or a percentile "pNN" / "pNN.N" (0 < NN < 100); `max_extra_load` a
// percentage, "5%" or the number 5.
HedgePolicy parseHedge(const Value& value) {
  HedgePolicy hedge;
  MapReader map(value, {"delay", "initial_delay", "min_delay", "window", "max_attempts",
                        "max_extra_load", "non_idempotent", "max_body_bytes"});
  if (std::optional<Value> delay = map.require("delay")) {
    std::optional<std::string> text = delay->nonEmptyString();
    if (text.has_value() && text->front() == 'p') {
      const std::string digits = text->substr(1);
      char* end = nullptr;
      const double p = std::strtod(digits.c_str(), &end);
      const bool numeric = !digits.empty() && end == digits.c_str() + digits.size() &&
                           std::all_of(digits.begin(), digits.end(),
                                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; });
      if (!numeric || !(p > 0 && p < 100)) {
        delay->error("expected a duration (\"20ms\") or a percentile of the route's latency "
                     "(\"p95\", \"p99.9\": above 0, below 100), got " + quote(*text));
      } else {
        hedge.percentile = p;
      }
    } else if (text.has_value()) {
      if (std::optional<Duration> fixed = delay->duration(false)) {
        hedge.delay = *fixed;
      }
    }
  }
  map.readDuration("initial_delay", hedge.initial_delay, false);
  map.readDuration("min_delay", hedge.min_delay);
  map.readDuration("window", hedge.window, false);
  map.readUint32("max_attempts", hedge.max_attempts, 2, 5);
  if (std::optional<Value> load = map.get("max_extra_load")) {
    std::optional<std::string> text = load->string();
    if (text.has_value() && !text->empty() && text->back() == '%') {
      char* end = nullptr;
      const std::string digits = text->substr(0, text->size() - 1);
      const double percent = std::strtod(digits.c_str(), &end);
      if (digits.empty() || end != digits.c_str() + digits.size() || !(percent > 0) ||
          percent > 400) {
        load->error("expected a percentage above 0 and at most 400 (\"5%\"), got " + quote(*text));
      } else {
        hedge.max_extra_load = percent / 100;
      }
    } else if (std::optional<double> percent = load->number(0, 400)) {
      if (*percent == 0) {
        load->error("expected a percentage above 0 and at most 400 (\"5%\"): 0 sends no hedge; "
                    "remove the hedge block instead");
      } else {
        hedge.max_extra_load = *percent / 100;
      }
    }
  }
  map.readBool("non_idempotent", hedge.non_idempotent);
  map.readUint32("max_body_bytes", hedge.max_body_bytes, 0, UINT32_MAX);
  return hedge;
}

std::vector<WeightedCluster> parseWeightedClusters(const Value& value, ParseContext& context) {
  std::vector<WeightedCluster> clusters;
  uint64_t total = 0;
  for (const Value& item : value.items()) {
    WeightedCluster weighted;
    MapReader map(item, {"cluster", "weight"});
    if (std::optional<Value> name = map.require("cluster")) {
      if (std::optional<std::string> text = name->nonEmptyString()) {
        weighted.cluster = *text;
        context.cluster_references.push_back(NameAt{*text, *name});
      }
    }
    if (map.require("weight").has_value()) {
      map.readUint32("weight", weighted.weight, 0, UINT32_MAX);
    }
    total += weighted.weight;
    clusters.push_back(std::move(weighted));
  }
  if (value.isList() && total == 0) {
    value.error("weights must add up to more than 0");
  }
  return clusters;
}

// Each item is a map with exactly one of header, source_ip and cookie. `source_ip: false`
// is accepted and adds nothing, so a templated config can switch it off.
std::vector<HashPolicy> parseHashPolicy(const Value& value) {
  std::vector<HashPolicy> policies;
  for (const Value& item : value.items()) {
    MapReader map(item, {"header", "source_ip", "cookie"});
    if (requireExactlyOne(map, {"header", "source_ip", "cookie"}) != 1) {
      continue;
    }
    if (std::optional<Value> header = map.get("header")) {
      std::optional<std::string> name = parseHeaderName(*header, true);
      if (name.has_value() && name->starts_with(':')) {
        // The codecs keep pseudo-headers out of the header map, so there is nothing to hash.
        header->error("pseudo-header " + quote(*name) + " cannot be hashed");
      } else if (name.has_value()) {
        policies.push_back({HashPolicy::Kind::Header, std::move(*name)});
      }
    }
    if (std::optional<Value> source_ip = map.get("source_ip")) {
      if (source_ip->boolean() == true) {
        policies.push_back({HashPolicy::Kind::SourceIp, ""});
      }
    }
    if (std::optional<Value> cookie = map.get("cookie")) {
      std::optional<std::string> name = cookie->nonEmptyString();
      if (name.has_value() && !std::all_of(name->begin(), name->end(), isTokenChar)) {
        cookie->error("invalid cookie name " + quote(*name) +
                      " (letters, digits and !#$%&'*+-.^_`|~ only)");
      } else if (name.has_value()) {
        policies.push_back({HashPolicy::Kind::Cookie, std::move(*name)});
      }
    }
  }
  return policies;
}

RouteAction parseRouteAction(const Value& value, ParseContext& context, Route& route) {
  RouteAction action;
  MapReader map(value, {"cluster", "weighted_clusters", "timeout", "retry", "hedge", "carbon",
                        "priority", "prefix_rewrite",
                        "host_rewrite", "hash_policy", kHeaderEditKeys[0], kHeaderEditKeys[1],
                        kHeaderEditKeys[2], kHeaderEditKeys[3]});
  requireExactlyOne(map, {"cluster", "weighted_clusters"});
  if (std::optional<Value> cluster = map.get("cluster")) {
    if (std::optional<std::string> name = cluster->nonEmptyString()) {
      action.cluster = *name;
      context.cluster_references.push_back(NameAt{*name, *cluster});
    }
  }
  if (std::optional<Value> weighted = map.get("weighted_clusters")) {
    action.weighted_clusters = parseWeightedClusters(*weighted, context);
  }
  map.readDuration("timeout", action.timeout);
  if (std::optional<Value> retry = map.get("retry")) {
    action.retry = parseRetry(*retry);
  }
  if (std::optional<Value> hedge = map.get("hedge")) {
    action.hedge = parseHedge(*hedge);
  }
  if (std::optional<Value> priority = map.get("priority")) {
    action.priority = priority
                          ->oneOf<std::string>({{"critical", "critical"},
                                                {"important", "important"},
                                                {"nice_to_have", "nice_to_have"}})
                          .value_or("");
  }
  if (std::optional<Value> carbon = map.get("carbon")) {
    action.carbon = carbon->oneOf<RouteAction::Carbon>({{"off", RouteAction::Carbon::Off},
                                                        {"interactive", RouteAction::Carbon::Interactive},
                                                        {"deferrable", RouteAction::Carbon::Deferrable}})
                        .value_or(action.carbon);
  }
  map.readString("prefix_rewrite", action.prefix_rewrite);
  map.readString("host_rewrite", action.host_rewrite);
  if (std::optional<Value> hash_policy = map.get("hash_policy")) {
    action.hash_policy = parseHashPolicy(*hash_policy);
  }
  parseHeaderEdits(map, route);
  return action;
}

DirectResponse parseDirectResponse(const Value& value) {
  DirectResponse response;
  MapReader map(value, {"status", "body", "content_type"});
  map.readUint16("status", response.status, 100, 599);
  map.readString("body", response.body);
  map.readString("content_type", response.content_type);
  return response;
}

Redirect parseRedirect(const Value& value) {
  Redirect redirect;
  MapReader map(value,
                {"status", "scheme", "host", "port", "path", "prefix_rewrite", "strip_query"});
  if (std::optional<Value> status = map.get("status")) {
    if (std::optional<uint16_t> code = status->oneOf<uint16_t>(
            {{"301", 301}, {"302", 302}, {"303", 303}, {"307", 307}, {"308", 308}})) {
      redirect.status = *code;
    }
  }
  if (std::optional<Value> scheme = map.get("scheme")) {
    redirect.scheme =
        scheme->oneOf<std::string>({{"http", "http"}, {"https", "https"}}).value_or("");
  }
  map.readString("host", redirect.host);
  if (std::optional<Value> port = map.get("port")) {
    if (std::optional<uint64_t> number = port->integer(1, 65535)) {
      redirect.port = static_cast<uint16_t>(*number);
    }
  }
  if (std::optional<Value> path = map.get("path")) {
    redirect.path = path->string().value_or("");
    if (path->node().isScalar() && !redirect.path.starts_with('/')) {
      path->error("expected a path starting with \"/\", got " + quote(redirect.path));
    }
  }
  map.readString("prefix_rewrite", redirect.prefix_rewrite);
  if (map.has("path") && map.has("prefix_rewrite")) {
    map.error("expected at most one of path, prefix_rewrite, got both");
  }
  map.readBool("strip_query", redirect.strip_query);
  return redirect;
}

Route parseRoute(const Value& value, ParseContext& context) {
  Route route;
  MapReader map(value, {"name", "match", "route", "direct_response", "redirect", kHeaderEditKeys[0],
                        kHeaderEditKeys[1], kHeaderEditKeys[2], kHeaderEditKeys[3]});
  map.readString("name", route.name);
  if (std::optional<Value> match = map.require("match")) {
    route.match = parseMatch(*match);
  }
  requireExactlyOne(map, {"route", "direct_response", "redirect"});
  if (std::optional<Value> action = map.get("route")) {
    route.route = parseRouteAction(*action, context, route);
  }
  if (std::optional<Value> response = map.get("direct_response")) {
    route.direct_response = parseDirectResponse(*response);
  }
  if (std::optional<Value> redirect = map.get("redirect")) {
    route.redirect = parseRedirect(*redirect);
  }
  parseHeaderEdits(map, route);
  return route;
}

VirtualHost parseVirtualHost(const Value& value, ParseContext& context,
                             std::map<std::string, Value>& seen_domains) {
  VirtualHost host;
  MapReader map(value,
                {"name", "domains", "routes", "request_headers_to_add", "response_headers_to_add"});
  map.readString("name", host.name);
  if (std::optional<Value> domains = map.require("domains")) {
    std::vector<Value> items = domains->items();
    if (items.empty() && domains->node().isList()) {
      domains->error("expected at least one domain (\"*\" matches every host)");
    }
    for (const Value& item : items) {
      std::optional<std::string> domain = parseDomain(item, true);
      if (!domain.has_value()) {
        continue;
      }
      // The route table takes the first virtual host for a repeated domain; the second one
      // could never be reached, which is surely not what was meant.
      auto [it, inserted] = seen_domains.emplace(*domain, item);
      if (!inserted) {
        item.error("domain " + quote(*domain) + " is already used at line " +
                   std::to_string(it->second.mark().line + 1) + " (" + it->second.path() + ")");
      }
      host.domains.push_back(std::move(*domain));
    }
  }
  if (std::optional<Value> routes = map.get("routes")) {
    for (const Value& item : routes->items()) {
      host.routes.push_back(parseRoute(item, context));
    }
  }
  if (std::optional<Value> headers = map.get("request_headers_to_add")) {
    host.request_headers_to_add = parseHeadersToAdd(*headers);
  }
  if (std::optional<Value> headers = map.get("response_headers_to_add")) {
    host.response_headers_to_add = parseHeadersToAdd(*headers);
  }
  return host;
}

bool isHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == ':' || c == '[' || c == ']';
}

}  // namespace

HeaderMatcher readHeaderMatcher(const Value& value) { return parseHeaderMatcher(value); }

std::optional<std::string> parseDomain(const Value& value, bool allow_catch_all) {
  std::optional<std::string> text = value.nonEmptyString();
  if (!text.has_value()) {
    return std::nullopt;
  }
  std::string domain = toLower(*text);
  if (domain == "*") {
    if (allow_catch_all) {
      return domain;
    }
    value.error("\"*\" is not allowed here; a certificate without server_names is the fallback");
    return std::nullopt;
  }
  std::string_view rest = domain;
  if (rest.starts_with('*')) {
    rest.remove_prefix(1);
  }
  bool valid = !rest.empty() && std::all_of(rest.begin(), rest.end(), isHostChar);
  if (!valid) {
    std::string allowed = "\"example.com\", \"*.example.com\", \"*-suffix.example.com\"";
    if (allow_catch_all) {
      allowed += ", \"*\"";
    }
    value.error("invalid domain " + quote(*text) + " (allowed: " + allowed + ")");
    return std::nullopt;
  }
  return domain;
}

std::vector<VirtualHost> parseVirtualHosts(const Value& value, ParseContext& context) {
  std::vector<VirtualHost> hosts;
  std::map<std::string, Value> seen_domains;
  for (const Value& item : value.items()) {
    hosts.push_back(parseVirtualHost(item, context, seen_domains));
  }
  return hosts;
}

}  // namespace strait::config::internal
