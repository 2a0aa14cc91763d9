#include "control/source.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <tuple>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config/canonical.h"
#include "config/tree.h"

namespace strait::cp {

namespace {

namespace fs = std::filesystem;
using config::ConfigError;
using config::Resource;
using config::ResourceType;

constexpr const char* kSections[] = {"secrets", "filter_configs", "listeners", "clusters"};

// Where an item of the merged document came from.
struct Origin {
  size_t file = 0;
  size_t index = 0;  // in that file's list
};

ConfigError errorAt(const std::string& file, const config::Mark& mark, std::string path,
                    std::string message) {
  ConfigError error;
  error.file = file;
  if (mark.known()) {
    error.line = mark.line + 1;
    error.column = mark.column + 1;
  }
  error.path = std::move(path);
  error.message = std::move(message);
  return error;
}

bool isSourceFile(const fs::path& path) {
  std::string ext = path.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

// The PEM files secrets name are watched too, so that a rotated certificate is pushed.
bool isPemFile(const fs::path& path) {
  std::string ext = path.extension().string();
  return ext == ".pem" || ext == ".crt" || ext == ".key";
}

std::vector<fs::path> filesOf(const fs::path& folder) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (entry.is_regular_file() && isSourceFile(entry.path())) {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool readFile(const fs::path& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  text = buffer.str();
  return !in.bad();
}

}  // namespace

std::string GroupSnapshot::fingerprint() const {
  std::string out;
  for (const std::string& version : versions) {
    out += version;
    out.push_back('.');
  }
  for (const auto& [node, snapshot] : nodes) {
    out += " " + node + ":" + snapshot->fingerprint();
  }
  return out;
}

const GroupSnapshot& GroupSnapshot::forNode(const std::string& node_id) const {
  auto it = nodes.find(node_id);
  return it != nodes.end() ? *it->second : *this;
}

GroupSnapshot cutResources(const std::string& group, const config::Bootstrap& config,
                           const PemFiles& pem) {
  GroupSnapshot out;
  out.group = group;
  for (const config::Secret& secret : config.secrets) {
    nlohmann::json body = nlohmann::json::object();
    auto put = [&](const char* field, const std::string& path) {
      if (auto it = pem.find(path); !path.empty() && it != pem.end()) {
        body[field] = it->second;
      }
    };
    put("certificate_chain", secret.cert);
    put("private_key", secret.key);
    put("trust_bundle", secret.ca);
    out.resources[static_cast<size_t>(ResourceType::Secrets)].push_back(
        Resource{secret.name, body.dump()});
  }
  // Every other type as straitctl diff cuts the proxy's config in force (config/canonical.h).
  config::CutConfig cut = config::cutCanonical(config.canonical);
  for (size_t i = 0; i < config::kResourceTypes; i++) {
    if (i != static_cast<size_t>(ResourceType::Secrets)) {
      out.resources[i] = std::move(cut.resources[i]);
    }
  }
  out.clusters = out.of(ResourceType::Clusters).size();
  out.listeners = out.of(ResourceType::Listeners).size();
  out.endpoints = cut.endpoints;
  for (size_t i = 0; i < config::kResourceTypes; i++) {
    std::sort(out.resources[i].begin(), out.resources[i].end(),
              [](const Resource& a, const Resource& b) { return a.name < b.name; });
    out.versions[i] = config::resourcesVersion(out.resources[i]);
  }
  return out;
}

const ParsedFiles::Parsed& ParsedFiles::parse(const SourceFile& file) {
  Entry& entry = entries_[file.path];
  entry.used = true;
  if (entry.parsed.has_value() && entry.text == file.text) {
    hits_++;
    return *entry.parsed;
  }
  entry.text = file.text;
  entry.parsed = parseFile(file);
  return *entry.parsed;
}

void ParsedFiles::prune() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!it->second.used) {
      it = entries_.erase(it);
    } else {
      it->second.used = false;
      ++it;
    }
  }
}

ParsedFiles::Parsed ParsedFiles::parseFile(const SourceFile& file) {
  Parsed out;
  config::SyntaxError syntax;
  bool json = fs::path(file.path).extension() == ".json";
  out.tree = json ? config::parseJson(file.text, syntax) : config::parseYaml(file.text, syntax);
  if (!out.tree.has_value()) {
    out.error = errorAt(file.path, syntax.mark, "",
                        std::string(json ? "invalid JSON: " : "invalid YAML: ") + syntax.message);
  }
  return out;
}

namespace {

// Reads the PEM files an item of `secrets` names (relative to its source file's folder), checks
// that each holds what its key says, and points the item at the absolute path. Errors at the key.
void readSecretFiles(config::TreeNode& item, const std::string& file, const std::string& path,
                     PemFiles& pem, std::vector<ConfigError>& errors) {
  if (!item.isMap()) {
    return;  // the loader reports it
  }
  static const std::pair<const char*, const char*> kKeys[] = {
      {"cert", "CERTIFICATE-----"}, {"key", "PRIVATE KEY-----"}, {"ca", "CERTIFICATE-----"}};
  for (auto [key, marker] : kKeys) {
    config::TreeNode* value = item.findMutable(key);
    if (value == nullptr || !value->isScalar() || value->text().empty()) {
      continue;
    }
    fs::path where(value->text());
    if (where.is_relative()) {
      where = fs::path(file).parent_path() / where;
    }
    std::string absolute = where.lexically_normal().string();
    std::string text;
    std::string problem;
    if (!readFile(absolute, text)) {
      problem = "cannot read " + absolute;
    } else if (text.find("-----BEGIN ") == std::string::npos ||
               text.find(marker) == std::string::npos) {
      problem = absolute + " holds no PEM " +
                std::string(std::string_view(marker).substr(0, std::string_view(marker).size() - 5));
    }
    if (!problem.empty()) {
      errors.push_back(errorAt(file, value->mark(), path + "." + key, problem));
      continue;
    }
    pem[absolute] = std::move(text);
    *value = config::TreeNode::scalar(absolute, true, value->mark());
  }
}

// One listener or cluster of a group's files, with where it came from.
struct SourceItem {
  std::string section;  // "listeners" or "clusters"
  std::string name;
  config::TreeNode node;  // without its `node` key
  Origin origin;
};

// The node ids of an item's `node` key (a string or a list of strings); errors at the key.
std::vector<std::string> nodeIds(const config::TreeNode& value, const std::string& file,
                                 const std::string& path, std::vector<ConfigError>& errors) {
  std::vector<std::string> ids;
  bool ok = true;
  if (value.isScalar() && !value.text().empty()) {
    ids.push_back(value.text());
  } else if (value.isList() && value.size() > 0) {
    for (const config::TreeNode& item : value.items()) {
      ok = ok && item.isScalar() && !item.text().empty();
      ids.push_back(item.isScalar() ? item.text() : "");
    }
  } else {
    ok = false;
  }
  if (!ok) {
    errors.push_back(errorAt(file, value.mark(), path + ".node",
                             "expected a node id (node.id of a proxy) or a list of them"));
    return {};
  }
  return ids;
}

// Validates one merged document (the group's items, or a node's) with the proxy's loader and
// cuts it into resources; errors point back at the file and list index each item came from.
std::optional<GroupSnapshot> validate(const std::string& group, const std::string& label,
                                      const std::vector<const SourceItem*>& items,
                                      const std::vector<SourceFile>& files, const PemFiles& pem,
                                      std::vector<ConfigError>& errors) {
  using config::TreeNode;
  TreeNode merged(TreeNode::Kind::Map);
  for (const char* section : kSections) {
    merged.add(section, TreeNode(TreeNode::Kind::List));
  }
  std::map<std::string, std::vector<Origin>> origins;
  for (const SourceItem* item : items) {
    merged.findMutable(item->section)->push(item->node);
    origins[item->section].push_back(item->origin);
  }
  config::LoadResult loaded = config::loadTree(merged, group);
  for (ConfigError& error : loaded.errors) {
    std::optional<config::ListPath> at = config::splitListPath(error.path);
    if (at.has_value() && origins.count(at->list) != 0 && at->index < origins[at->list].size()) {
      const Origin& origin = origins[at->list][at->index];
      error.file = files[origin.file].path;
      error.path = at->list + "[" + std::to_string(origin.index) + "]" + at->rest;
    } else {
      error.file = group;
    }
    if (!label.empty()) {
      error.message = "for node " + label + ": " + error.message;
    }
    errors.push_back(std::move(error));
  }
  if (!loaded.ok()) {
    return std::nullopt;
  }
  return cutResources(group, *loaded.bootstrap, pem);
}

// "cluster \"api\" is defined twice (first at a.yaml:2:5, clusters[0])"; "for node p2: ..." when
// the clash is between two items for that node. JSON files have no positions.
std::string definedTwice(const std::string& section, const std::string& name,
                         const std::string& node, const ConfigError& first) {
  std::string where = first.file;
  if (first.line > 0) {
    where += ":" + std::to_string(first.line) + ":" + std::to_string(first.column);
  }
  const char* what = section == "clusters"         ? "cluster"
                     : section == "secrets"        ? "secret"
                     : section == "filter_configs" ? "filter config"
                                                   : "listener";
  return std::string(node.empty() ? "" : "for node " + node + ": ") + what + " \"" + name +
         "\" is defined twice (first at " + where + ", " + first.path + ")";
}

}  // namespace

GroupResult buildGroup(const std::string& group, const std::vector<SourceFile>& files,
                       ParsedFiles* cache) {
  using config::TreeNode;
  GroupResult result;
  ParsedFiles local;
  ParsedFiles& parsed_files = cache != nullptr ? *cache : local;
  std::vector<SourceItem> items;
  PemFiles pem;  // what the secrets' files hold, by absolute path
  std::vector<std::vector<std::string>> item_nodes;  // per item: the nodes it is for, or none
  // (node or "", section, name) -> where it was first defined
  std::map<std::tuple<std::string, std::string, std::string>, ConfigError> defined;
  for (size_t f = 0; f < files.size(); f++) {
    const SourceFile& file = files[f];
    const ParsedFiles::Parsed& parsed = parsed_files.parse(file);
    if (!parsed.tree.has_value()) {
      result.errors.push_back(parsed.error);
      continue;
    }
    const TreeNode& doc = *parsed.tree;
    if (!doc.isDefined() || doc.isNull()) {
      continue;  // an empty file adds nothing
    }
    if (!doc.isMap()) {
      result.errors.push_back(
          errorAt(file.path, doc.mark(), "", "expected a map with listeners and clusters"));
      continue;
    }
    for (const config::TreeEntry& entry : doc.entries()) {
      const std::string& key = entry.key;
      bool known = std::find_if(std::begin(kSections), std::end(kSections), [&](const char* s) {
                     return key == s;
                   }) != std::end(kSections);
      if (!known) {
        result.errors.push_back(errorAt(file.path, entry.key_mark, key,
                                        "unknown key in a strait-cp source file (expected " +
                                            std::string("secrets, filter_configs, listeners or clusters)")));
        continue;
      }
      if (!entry.value.isList()) {
        result.errors.push_back(errorAt(file.path, entry.value.mark(), key, "expected a list"));
        continue;
      }
      const std::vector<TreeNode>& list = entry.value.items();
      for (size_t i = 0; i < list.size(); i++) {
        SourceItem item{key, "", list[i], Origin{f, i}};
        std::string path = key + "[" + std::to_string(i) + "]";
        std::vector<std::string> nodes;
        if (item.node.isMap()) {
          if (const TreeNode* name = item.node.find("name"); name != nullptr && name->isScalar()) {
            item.name = name->text();
          }
          if (key == "secrets") {
            readSecretFiles(item.node, file.path, path, pem, result.errors);
          }
          if (const TreeNode* node = item.node.find("node")) {
            size_t before = result.errors.size();
            nodes = nodeIds(*node, file.path, path, result.errors);
            item.node.remove("node");
            if (result.errors.size() != before) {
              continue;
            }
          }
        }
        bool twice = false;
        for (const std::string& node : nodes.empty() ? std::vector<std::string>{""} : nodes) {
          if (item.name.empty()) {
            continue;  // the loader reports the missing name
          }
          auto [it, inserted] = defined.emplace(std::make_tuple(node, key, item.name),
                                                errorAt(file.path, list[i].mark(), path, ""));
          if (!inserted && !twice) {
            result.errors.push_back(errorAt(file.path, list[i].mark(), path,
                                            definedTwice(key, item.name, node, it->second)));
            twice = true;
          }
        }
        if (!twice) {
          items.push_back(std::move(item));
          item_nodes.push_back(std::move(nodes));
        }
      }
    }
  }
  if (!result.errors.empty()) {
    return result;
  }
  // The group's own snapshot: every item that names no node.
  std::vector<const SourceItem*> base;
  std::set<std::string> node_ids;
  for (size_t i = 0; i < items.size(); i++) {
    if (item_nodes[i].empty()) {
      base.push_back(&items[i]);
    }
    node_ids.insert(item_nodes[i].begin(), item_nodes[i].end());
  }
  std::optional<GroupSnapshot> snapshot = validate(group, "", base, files, pem, result.errors);
  if (!snapshot.has_value()) {
    return result;  // the group's own errors; every node's config would repeat them
  }
  // Per node: the group's items with the node's own replacing those of the same name.
  for (const std::string& node : node_ids) {
    std::vector<const SourceItem*> mine = base;
    for (size_t i = 0; i < items.size(); i++) {
      const std::vector<std::string>& ids = item_nodes[i];
      if (std::find(ids.begin(), ids.end(), node) == ids.end()) {
        continue;
      }
      auto same = std::find_if(mine.begin(), mine.end(), [&](const SourceItem* other) {
        return other->section == items[i].section && other->name == items[i].name;
      });
      if (same != mine.end()) {
        *same = &items[i];
      } else {
        mine.push_back(&items[i]);
      }
    }
    std::optional<GroupSnapshot> own = validate(group, node, mine, files, pem, result.errors);
    if (snapshot.has_value() && own.has_value()) {
      snapshot->nodes.emplace(node, std::make_shared<const GroupSnapshot>(std::move(*own)));
    }
  }
  if (result.errors.empty() && snapshot.has_value()) {
    result.snapshot = std::move(*snapshot);
  }
  return result;
}

SourceResult loadSource(const std::string& dir, ParsedFiles* cache) {
  SourceResult result;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    result.errors["_shared"].push_back(
        errorAt(dir, config::Mark{}, "", "not a directory"));
    return result;
  }
  auto read = [&](const std::string& group, const std::vector<fs::path>& paths,
                  std::vector<SourceFile>& out) {
    for (const fs::path& path : paths) {
      SourceFile file{path.string(), ""};
      if (!readFile(path, file.text)) {
        result.errors[group].push_back(
            errorAt(file.path, config::Mark{}, "", "cannot read the file"));
        continue;
      }
      out.push_back(std::move(file));
    }
  };
  std::vector<SourceFile> shared;
  read("_shared", filesOf(fs::path(dir) / "_shared"), shared);
  std::vector<std::string> groups;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && name != "_shared" && !name.starts_with('.')) {
      groups.push_back(name);
    }
  }
  std::sort(groups.begin(), groups.end());
  for (const std::string& group : groups) {
    std::vector<SourceFile> files = shared;
    read(group, filesOf(fs::path(dir) / group), files);
    GroupResult built = buildGroup(group, files, cache);
    if (!built.errors.empty()) {
      auto& errors = result.errors[group];
      errors.insert(errors.end(), built.errors.begin(), built.errors.end());
    } else if (result.errors.count(group) == 0) {
      result.groups.emplace(group, std::move(built.snapshot));
    }
  }
  if (cache != nullptr) {
    cache->prune();
  }
  return result;
}

std::string sourceFingerprint(const std::string& dir) {
  std::string all;
  std::error_code ec;
  std::vector<fs::path> paths;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && (isSourceFile(it->path()) || isPemFile(it->path()))) {
      paths.push_back(it->path());
    }
  }
  std::sort(paths.begin(), paths.end());
  for (const fs::path& path : paths) {
    std::string text;
    readFile(path, text);
    all += path.string() + "\n" + std::to_string(text.size()) + "\n" + text;
  }
  return config::contentHash(all);
}

}  // namespace strait::cp
