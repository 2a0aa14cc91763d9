#include "proxy/discovery/secret_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "config/canonical.h"

namespace strait::discovery {

namespace {

namespace fs = std::filesystem;
using config::ResourceType;
using config::TreeNode;

// The body field, the config key and the file's suffix.
struct PemField {
  const char* field;
  const char* key;
  const char* suffix;
};
constexpr PemField kFields[] = {{"certificate_chain", "cert", ".crt"},
                                {"private_key", "key", ".key"},
                                {"trust_bundle", "ca", ".ca.pem"}};

// A secret's name made safe as a file name: anything but [A-Za-z0-9._-] becomes '_'.
std::string safeName(const std::string& name) {
  std::string out;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    out.push_back(ok ? c : '_');
  }
  return out.empty() || out[0] == '.' ? "_" + out : out;
}

std::string fileFor(const std::string& dir, const std::string& name, const PemField& field,
                    const std::string& pem) {
  return dir + "/" + safeName(name) + "-" + config::contentHash(name + "\n" + pem).substr(0, 12) +
         field.suffix;
}

// Writes `text` to `path` (mode 0600) through a temporary file and a rename, unless it is there.
bool writePrivate(const std::string& path, const std::string& text, std::string& error) {
  if (::access(path.c_str(), F_OK) == 0) {
    return true;  // content-addressed: the same name holds the same text
  }
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot write " + tmp + ": " + std::strerror(errno);
    return false;
  }
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      error = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

const std::map<std::string, std::string>& secretsOf(const ResourceSets& sets) {
  return sets.resources[static_cast<size_t>(ResourceType::Secrets)];
}

}  // namespace

SecretFiles writeSecretFiles(const ResourceSets& sets, const std::string& dir) {
  SecretFiles out;
  if (secretsOf(sets).empty()) {
    return out;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);
  for (const auto& [name, body] : secretsOf(sets)) {
    nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
    TreeNode secret(TreeNode::Kind::Map);
    secret.add("name", TreeNode::scalar(name, true));
    if (!parsed.is_object()) {
      out.error = "secrets/" + name + ": expected an object";
      return out;
    }
    for (const PemField& field : kFields) {
      if (!parsed.contains(field.field)) {
        continue;
      }
      if (!parsed[field.field].is_string() || parsed[field.field].get_ref<const std::string&>().empty()) {
        out.error = "secrets/" + name + ": " + field.field + ": expected PEM text";
        return out;
      }
      const std::string& pem = parsed[field.field].get_ref<const std::string&>();
      std::string path = fileFor(dir, name, field, pem);
      std::string error;
      if (!writePrivate(path, pem, error)) {
        out.error = "secrets/" + name + ": " + error;
        return out;
      }
      secret.add(field.key, TreeNode::scalar(path, true));
    }
    out.secrets.push(std::move(secret));
  }
  return out;
}

void pruneSecretFiles(const ResourceSets& sets, const std::string& dir) {
  std::set<std::string> keep;
  for (const auto& [name, body] : secretsOf(sets)) {
    nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
    for (const PemField& field : kFields) {
      if (parsed.is_object() && parsed.contains(field.field) && parsed[field.field].is_string()) {
        keep.insert(fileFor(dir, name, field, parsed[field.field].get<std::string>()));
      }
    }
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && keep.count(entry.path().string()) == 0) {
      fs::remove(entry.path(), ec);
    }
  }
}

}  // namespace strait::discovery
