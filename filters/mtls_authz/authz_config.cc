#include "filters/mtls_authz/authz_config.h"

#include "config/sections.h"
#include "config/yaml_reader.h"

namespace strait::filters::authz {

namespace {

using config::internal::MapReader;
using config::internal::Value;

// "*", or a spiffe:// pattern whose inner `*`s each stand for a whole path segment.
bool validPrincipalPattern(std::string_view text) {
  if (text == "*") {
    return true;
  }
  if (!text.starts_with("spiffe://")) {
    return false;
  }
  for (size_t i = 0; i + 1 < text.size(); i++) {
    if (text[i] == '*' && (text[i - 1] != '/' || text[i + 1] != '/')) {
      return false;
    }
  }
  return true;
}

Rule parseRule(const Value& value) {
  Rule rule;
  MapReader map(value, {"name", "action", "principals", "methods", "paths", "headers"});
  if (std::optional<Value> name = map.require("name")) {
    rule.name = name->nonEmptyString().value_or("");
  }
  if (std::optional<Value> action = map.require("action")) {
    rule.action =
        action->oneOf<Action>({{"allow", Action::Allow}, {"deny", Action::Deny}}).value_or(rule.action);
  }
  if (std::optional<Value> principals = map.get("principals")) {
    for (const Value& item : principals->items()) {
      std::optional<std::string> text = item.nonEmptyString();
      if (!text.has_value()) {
        continue;
      }
      if (!validPrincipalPattern(*text)) {
        item.error("expected a SPIFFE ID pattern (spiffe://trust-domain/path, `*` for any "
                   "segment or, at the end, the rest) or \"*\", got " +
                   config::internal::quote(*text));
        continue;
      }
      rule.principals.push_back({*text});
    }
  }
  if (std::optional<Value> methods = map.get("methods")) {
    for (const Value& item : methods->items()) {
      std::optional<std::string> text = item.nonEmptyString();
      if (text.has_value()) {
        rule.methods.push_back(*text);
      }
    }
  }
  if (std::optional<Value> paths = map.get("paths")) {
    for (const Value& item : paths->items()) {
      MapReader path(item, {"exact", "prefix"});
      PathMatch match;
      if (path.has("exact") == path.has("prefix")) {
        path.error("expected exactly one of exact, prefix");
        continue;
      }
      match.kind = path.has("exact") ? PathMatch::Kind::Exact : PathMatch::Kind::Prefix;
      std::optional<std::string> text =
          path.get(match.kind == PathMatch::Kind::Exact ? "exact" : "prefix")->nonEmptyString();
      if (text.has_value()) {
        match.value = *text;
        rule.paths.push_back(std::move(match));
      }
    }
  }
  if (std::optional<Value> headers = map.get("headers")) {
    for (const Value& item : headers->items()) {
      rule.headers.push_back(config::internal::readHeaderMatcher(item));
    }
  }
  return rule;
}

}  // namespace

void registerAuthzParser() {
  config::registerFilterParser("mtls_authz", [](const Value& value) {
    auto settings = std::make_shared<AuthzSettings>();
    MapReader map(value, {"mode", "default", "rules"});
    config::readFilterMode(map, *settings);
    if (std::optional<Value> fallback = map.get("default")) {
      settings->default_action =
          fallback->oneOf<Action>({{"allow", Action::Allow}, {"deny", Action::Deny}})
              .value_or(settings->default_action);
    }
    if (std::optional<Value> rules = map.get("rules")) {
      for (const Value& item : rules->items()) {
        settings->rules.push_back(parseRule(item));
      }
    }
    return settings;
  });
}

}  // namespace strait::filters::authz
