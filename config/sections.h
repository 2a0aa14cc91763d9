#pragma once

// The section parsers of strait.yaml, one per block of the file. Internal to config/: the public
// entry points are in config/loader.h.

#include <map>
#include <string>
#include <vector>

#include "config/types.h"
#include "config/yaml_reader.h"

namespace strait::config::internal {

// A name that must be checked once the whole file has been read, kept with the node it came
// from so that the error points at the reference itself.
struct NameAt {
  std::string name;
  Value at;
};

// What the section parsers leave behind for the checks across sections.
struct ParseContext {
  std::vector<NameAt> cluster_references;  // route.cluster, weighted_clusters[].cluster
  std::vector<NameAt> listener_names;
  std::vector<NameAt> cluster_names;
  // `secret: NAME` in a TLS block, with what the block needs of the secret.
  struct SecretReference {
    NameAt name;
    bool needs_certificate = false;  // cert and key
    bool needs_ca = false;
  };
  std::vector<SecretReference> secret_references;
  // filter_configs by name (read before the listeners that refer to them).
  std::map<std::string, FilterConfig> filter_configs;
};

Locality parseLocality(const Value& value);
// One header matcher ({name, exact | prefix | suffix | regex | present, invert}); routes and the
// filters' `match.headers` share it.
HeaderMatcher parseHeaderMatcher(const Value& value);
Listener parseListener(const Value& value, ParseContext& context);
Cluster parseCluster(const Value& value, ParseContext& context);
Secret parseSecret(const Value& value);
NamedFilterConfig parseFilterConfigResource(const Value& value);
std::vector<VirtualHost> parseVirtualHosts(const Value& value, ParseContext& context);

// Shared by listener TLS and virtual hosts: lower-cases a host name pattern and checks that it
// is exact ("api.example.com", optionally with ":port"), "*.suffix", "*suffix" or, when
// `allow_catch_all`, "*". Reports and returns nullopt otherwise.
std::optional<std::string> parseDomain(const Value& value, bool allow_catch_all);

// A header matcher as routes write it ({name, exact|prefix|suffix|regex|present, invert});
// filters that match on headers read theirs with this too (router::HeaderMatcherImpl evaluates).
HeaderMatcher readHeaderMatcher(const Value& value);

}  // namespace strait::config::internal
