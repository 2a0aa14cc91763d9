#pragma once

// Pushed secrets as files. strait-cp sends a secret's PEM text ({certificate_chain, private_key,
// trust_bundle}); the proxy's TLS code loads certificates from files (and watches them), so each
// PEM is written once to a private folder (0700, files 0600), named by the secret and a hash of
// its content: a rotated certificate gets a new file and the one in force stays untouched until
// the new config is published. The assembled config's `secrets` list then names these files.

#include <map>
#include <optional>
#include <string>

#include "config/tree.h"
#include "proxy/discovery/resource_state.h"

namespace strait::discovery {

struct SecretFiles {
  config::TreeNode secrets = config::TreeNode(config::TreeNode::Kind::List);  // [{name, cert, key, ca}]
  std::string error;  // "secrets/edge: ..." when a body is not one or a file cannot be written
};

// Writes the PEM files of `sets`' secrets under `dir` (made if missing) and returns the
// `secrets` list that names them.
SecretFiles writeSecretFiles(const ResourceSets& sets, const std::string& dir);

// Removes the files under `dir` that the secrets of `sets` do not name (after a publish).
void pruneSecretFiles(const ResourceSets& sets, const std::string& dir);

}  // namespace strait::discovery
