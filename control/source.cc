#include "control/source.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
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

constexpr const char* kSections[] = {"listeners", "clusters"};

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
  return out;
}

GroupSnapshot cutResources(const std::string& group, const config::Bootstrap& config) {
  GroupSnapshot out;
  out.group = group;
  nlohmann::json doc = nlohmann::json::parse(config.canonical, nullptr, false);
  auto add = [&](ResourceType type, const std::string& name, const nlohmann::json& body) {
    out.resources[static_cast<size_t>(type)].push_back(Resource{name, body.dump()});
  };
  if (doc.is_object()) {
    for (const nlohmann::json& cluster : doc.value("clusters", nlohmann::json::array())) {
      std::string name = cluster.value("name", "");
      nlohmann::json shape = cluster;
      shape.erase("endpoints");
      add(ResourceType::Clusters, name, shape);
      if (cluster.contains("endpoints")) {
        add(ResourceType::Endpoints, name,
            nlohmann::json{{"endpoints", cluster["endpoints"]}});
        out.endpoints += cluster["endpoints"].size();
      }
      out.clusters++;
    }
    for (const nlohmann::json& listener : doc.value("listeners", nlohmann::json::array())) {
      std::string name = listener.value("name", "");
      nlohmann::json shape = listener;
      shape.erase("virtual_hosts");
      add(ResourceType::Listeners, name, shape);
      add(ResourceType::Routes, name,
          nlohmann::json{{"virtual_hosts", listener.value("virtual_hosts", nlohmann::json::array())}});
      out.listeners++;
    }
  }
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

GroupResult buildGroup(const std::string& group, const std::vector<SourceFile>& files,
                       ParsedFiles* cache) {
  using config::TreeNode;
  GroupResult result;
  ParsedFiles local;
  ParsedFiles& parsed_files = cache != nullptr ? *cache : local;
  TreeNode merged(TreeNode::Kind::Map);
  for (const char* section : kSections) {
    merged.add(section, TreeNode(TreeNode::Kind::List));
  }
  std::map<std::string, std::vector<Origin>> origins;
  // name -> where it was first defined, per section
  std::map<std::string, std::map<std::string, ConfigError>> defined;
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
                                            std::string("listeners or clusters)")));
        continue;
      }
      if (!entry.value.isList()) {
        result.errors.push_back(errorAt(file.path, entry.value.mark(), key, "expected a list"));
        continue;
      }
      TreeNode& section = *merged.findMutable(key);
      const std::vector<TreeNode>& items = entry.value.items();
      for (size_t i = 0; i < items.size(); i++) {
        const TreeNode& item = items[i];
        std::string path = key + "[" + std::to_string(i) + "]";
        std::string name;
        if (const TreeNode* name_node = item.isMap() ? item.find("name") : nullptr;
            name_node != nullptr && name_node->isScalar()) {
          name = name_node->text();
        }
        if (!name.empty()) {
          auto [it, inserted] = defined[key].emplace(
              name, errorAt(file.path, item.mark(), path, ""));
          if (!inserted) {
            const ConfigError& first = it->second;
            result.errors.push_back(errorAt(
                file.path, item.mark(), path,
                std::string(key == "clusters" ? "cluster" : "listener") + " \"" + name +
                    "\" is defined twice (first at " + first.file + ":" +
                    std::to_string(first.line) + ":" + std::to_string(first.column) + ", " +
                    first.path + ")"));
            continue;
          }
        }
        section.push(item);
        origins[key].push_back(Origin{f, i});
      }
    }
  }
  if (!result.errors.empty()) {
    return result;
  }
  config::LoadResult loaded = config::loadTree(merged, group);
  for (ConfigError& error : loaded.errors) {
    // Point the error at the file and list index the item came from.
    std::optional<config::ListPath> at = config::splitListPath(error.path);
    if (at.has_value() && origins.count(at->list) != 0 && at->index < origins[at->list].size()) {
      const Origin& origin = origins[at->list][at->index];
      error.file = files[origin.file].path;
      error.path = at->list + "[" + std::to_string(origin.index) + "]" + at->rest;
    } else {
      error.file = group;
    }
    result.errors.push_back(std::move(error));
  }
  if (!result.errors.empty()) {
    return result;
  }
  result.snapshot = cutResources(group, *loaded.bootstrap);
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
    if (it->is_regular_file() && isSourceFile(it->path())) {
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
