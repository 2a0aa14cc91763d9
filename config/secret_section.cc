// secrets[]: named certificates and trust bundles that TLS blocks refer to by name.

#include "config/sections.h"

namespace strait::config::internal {

Secret parseSecret(const Value& value) {
  Secret secret;
  MapReader map(value, {"name", "cert", "key", "ca"});
  if (std::optional<Value> name = map.require("name")) {
    secret.name = name->nonEmptyString().value_or("");
  }
  for (auto [key, out] : {std::pair{"cert", &secret.cert}, std::pair{"key", &secret.key},
                          std::pair{"ca", &secret.ca}}) {
    if (std::optional<Value> path = map.get(key)) {
      *out = path->nonEmptyString().value_or("");
    }
  }
  if (map.has("cert") != map.has("key")) {
    map.error("cert and key go together: give both or neither");
  } else if (map.isMap() && !map.has("cert") && !map.has("ca")) {
    map.error("a secret holds cert and key, ca, or all three");
  }
  return secret;
}

}  // namespace strait::config::internal
