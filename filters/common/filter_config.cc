#include "filters/common/filter_config.h"

namespace strait::filters {

using config::internal::MapReader;
using config::internal::Value;

RequestMatchConfig parseRequestMatch(const Value& value) {
  RequestMatchConfig match;
  MapReader map(value, {"prefix", "headers", "principals"});
  if (std::optional<Value> prefix = map.get("prefix")) {
    match.prefix = prefix->string().value_or("");
    if (prefix->node().isScalar() && !match.prefix.starts_with('/')) {
      prefix->error("expected a path prefix starting with \"/\", got " +
                    config::internal::quote(match.prefix));
    }
  }
  if (std::optional<Value> headers = map.get("headers")) {
    for (const Value& item : headers->items()) {
      match.headers.push_back(config::internal::parseHeaderMatcher(item));
    }
  }
  if (std::optional<Value> principals = map.get("principals")) {
    for (const Value& item : principals->items()) {
      if (std::optional<std::string> text = item.nonEmptyString()) {
        if (*text != "*" && !text->starts_with("spiffe://")) {
          item.error("expected a SPIFFE ID pattern (spiffe://...) or \"*\", got " +
                     config::internal::quote(*text));
        }
        match.principals.push_back(*text);
      }
    }
  }
  return match;
}

}  // namespace strait::filters
