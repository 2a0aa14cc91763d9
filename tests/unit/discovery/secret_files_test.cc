// Pushed secrets written as files (0600, in a 0700 folder, content-addressed) and named in the
// assembled config, so that the TLS code loads them like the file's own certificates.

#include "proxy/discovery/secret_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace strait::discovery {
namespace {

namespace fs = std::filesystem;
using config::DiscoveryResponse;
using config::ResourceType;

const char* kStatic = R"({"admin":{"address":"127.0.0.1","port":0},"node":{"cluster":"edge","id":"e1"}})";

ResourceSets withSecrets(std::vector<config::Resource> secrets) {
  DiscoveryResponse response;
  response.type = ResourceType::Secrets;
  response.resources = std::move(secrets);
  response.version_info = "s1";
  ResourceSets sets;
  return sets.with(response);
}

std::string textOf(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

class SecretFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("strait-secrets-" + std::to_string(::getpid())) / "s")
               .string();
    fs::remove_all(fs::path(dir_).parent_path());
  }
  void TearDown() override { fs::remove_all(fs::path(dir_).parent_path()); }
  std::string dir_;
};

TEST_F(SecretFilesTest, EachPemIsAPrivateFileNamedInTheAssembledConfig) {
  ResourceSets sets = withSecrets({{"edge/cert", R"({"certificate_chain":"CERT1","private_key":"KEY1"})"},
                                   {"mesh-ca", R"({"trust_bundle":"CA1"})"}});
  SecretFiles files = writeSecretFiles(sets, dir_);
  ASSERT_TRUE(files.error.empty()) << files.error;
  ASSERT_EQ(files.secrets.size(), 2u);
  const config::TreeNode& edge = files.secrets.items()[0];
  EXPECT_EQ(edge.find("name")->text(), "edge/cert");
  std::string cert = edge.find("cert")->text();
  std::string key = edge.find("key")->text();
  EXPECT_EQ(edge.find("ca"), nullptr);
  EXPECT_EQ(textOf(cert), "CERT1");
  EXPECT_EQ(textOf(key), "KEY1");
  EXPECT_EQ(fs::path(cert).parent_path().string(), dir_);
  EXPECT_EQ(fs::path(key).filename().string().rfind("edge_cert-", 0), 0u);  // '/' made safe
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(textOf(files.secrets.items()[1].find("ca")->text()), "CA1");

  // A rotation writes a new file and leaves the one in force; the prune after the publish
  // removes it.
  ResourceSets rotated = withSecrets({{"edge/cert", R"({"certificate_chain":"CERT2","private_key":"KEY1"})"},
                                      {"mesh-ca", R"({"trust_bundle":"CA1"})"}});
  SecretFiles next = writeSecretFiles(rotated, dir_);
  ASSERT_TRUE(next.error.empty());
  std::string new_cert = next.secrets.items()[0].find("cert")->text();
  EXPECT_NE(new_cert, cert);
  EXPECT_EQ(next.secrets.items()[0].find("key")->text(), key);  // same text, same file
  EXPECT_TRUE(fs::exists(cert));
  pruneSecretFiles(rotated, dir_);
  EXPECT_FALSE(fs::exists(cert));
  EXPECT_TRUE(fs::exists(new_cert));
  EXPECT_TRUE(fs::exists(key));
}

TEST_F(SecretFilesTest, ABadBodyIsAnErrorNamingTheSecret) {
  SecretFiles files = writeSecretFiles(withSecrets({{"edge", R"({"private_key":42})"}}), dir_);
  EXPECT_EQ(files.error, "secrets/edge: private_key: expected PEM text");
}

// The assembled config names the files; the loader resolves `secret:` to them, and errors in a
// pushed secret name it.
TEST_F(SecretFilesTest, AssembledListenersGetTheSecretsFiles) {
  ResourceSets sets = withSecrets({{"edge", R"({"certificate_chain":"C","private_key":"K"})"},
                                   {"ca-only", R"({"trust_bundle":"CA"})"}});
  DiscoveryResponse listeners;
  listeners.type = ResourceType::Listeners;
  listeners.version_info = "l1";
  listeners.resources = {{"edge", R"({"port":0,"tls":{"certificates":[{"secret":"edge"}]}})"}};
  sets = sets.with(listeners);
  SecretFiles files = writeSecretFiles(sets, dir_);
  ASSERT_TRUE(files.error.empty());
  Assembled assembled = assemble(kStatic, sets, &files.secrets);
  ASSERT_TRUE(assembled.loaded.ok()) << assembled.error;
  const config::TlsCertificate& certificate =
      assembled.loaded.bootstrap->listeners[0].tls->certificates[0];
  EXPECT_EQ(textOf(certificate.cert), "C");
  EXPECT_EQ(textOf(certificate.key), "K");

  listeners.resources = {{"edge", R"({"port":0,"tls":{"certificates":[{"secret":"ca-only"}]}})"}};
  sets = sets.with(listeners);
  Assembled bad = assemble(kStatic, sets, &files.secrets);
  ASSERT_FALSE(bad.loaded.ok());
  EXPECT_EQ(bad.error,
            "listeners/edge: tls.certificates[0].secret: secret \"ca-only\" has no cert and key (a "
            "certificate is needed here)");
}

}  // namespace
}  // namespace strait::discovery
