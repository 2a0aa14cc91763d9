#include "config/tree.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "config/canonical.h"
#include "config/loader.h"

namespace strait::config {
namespace {

TreeNode json(const std::string& text) {
  SyntaxError error;
  std::optional<TreeNode> tree = parseJson(text, error);
  EXPECT_TRUE(tree.has_value()) << error.message;
  return tree.value_or(TreeNode());
}

TEST(TreeTest, JsonScalarsReadAsYamlSeesThem) {
  TreeNode doc = json(R"({"port": 8080, "name": "8080", "on": true, "ratio": 0.50, "none": null,
                          "big": 18446744073709551615, "neg": -3})");
  ASSERT_TRUE(doc.isMap());
  EXPECT_EQ(doc.find("port")->text(), "8080");
  EXPECT_FALSE(doc.find("port")->quoted());
  EXPECT_EQ(doc.find("name")->text(), "8080");
  EXPECT_TRUE(doc.find("name")->quoted());
  EXPECT_EQ(doc.find("on")->text(), "true");
  EXPECT_EQ(doc.find("ratio")->text(), "0.50");  // as written
  EXPECT_TRUE(doc.find("none")->isNull());
  EXPECT_EQ(doc.find("big")->text(), "18446744073709551615");
  EXPECT_EQ(doc.find("neg")->text(), "-3");
  EXPECT_EQ(doc.find("missing"), nullptr);
}

TEST(TreeTest, JsonKeepsOrderAndRepeatedKeys) {
  TreeNode doc = json(R"({"b": [1, [2, {}]], "a": {}, "b": 3})");
  ASSERT_EQ(doc.entries().size(), 3u);
  EXPECT_EQ(doc.entries()[0].key, "b");
  EXPECT_EQ(doc.entries()[1].key, "a");
  EXPECT_EQ(doc.entries()[2].key, "b");
  const TreeNode& list = doc.entries()[0].value;
  ASSERT_TRUE(list.isList());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_TRUE(list.items()[1].items()[1].isMap());
  EXPECT_EQ(doc.find("b"), &doc.entries()[0].value);  // the first one
}

TEST(TreeTest, JsonSyntaxErrorHasItsLineAndColumn) {
  SyntaxError error;
  EXPECT_FALSE(parseJson("{\n  \"a\": 1,\n  \"b\" 2\n}", error).has_value());
  EXPECT_EQ(error.mark.line, 2);    // 0-based: the third line
  EXPECT_EQ(error.mark.column, 6);  // at the 2
  EXPECT_NE(error.message.find("syntax error"), std::string::npos) << error.message;
  EXPECT_FALSE(parseJson("", error).has_value());
  EXPECT_FALSE(parseJson("{\"a\": 1", error).has_value());  // truncated
  EXPECT_FALSE(parseJson("{} {}", error).has_value());      // trailing data
}

TEST(TreeTest, YamlQuotingAndPositions) {
  SyntaxError error;
  std::optional<TreeNode> doc = parseYaml("a: 1\nb: '1'\nc:\n  - x\n", error);
  ASSERT_TRUE(doc.has_value());
  EXPECT_FALSE(doc->find("a")->quoted());
  EXPECT_TRUE(doc->find("b")->quoted());
  EXPECT_EQ(doc->find("c")->items()[0].mark().line, 3);
  EXPECT_EQ(doc->entries()[1].key_mark.line, 1);
  EXPECT_TRUE(parseYaml("", error)->isNull());
  EXPECT_FALSE(parseYaml("a: [1, 2\n", error).has_value());
  EXPECT_EQ(error.message, "end of sequence flow not found");
}

TEST(TreeTest, SetReplacesOrAdds) {
  TreeNode map(TreeNode::Kind::Map);
  map.set("a", TreeNode::scalar("1", false));
  map.set("a", TreeNode::scalar("2", false));
  map.set("b", TreeNode(TreeNode::Kind::List));
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map.find("a")->text(), "2");
}

// The same config as YAML and as JSON loads to the same canonical form, so the proxy computes
// the versions strait-cp computed from its YAML source.
TEST(TreeTest, JsonAndYamlOfOneConfigLoadTheSame) {
  LoadResult yaml = loadString(
      "listeners:\n"
      "  - name: main\n"
      "    port: 0\n"
      "    virtual_hosts:\n"
      "      - {name: all, domains: ['*'], routes: [{match: {prefix: /}, route: {cluster: b}}]}\n"
      "clusters:\n"
      "  - {name: b, connect_timeout: 1s, endpoints: [{address: 127.0.0.1, port: 8001}]}\n",
      "t.yaml");
  ASSERT_TRUE(yaml.ok()) << yaml.errors[0].toString();
  LoadResult from_json = loadJson(yaml.bootstrap->canonical, "t.json");
  ASSERT_TRUE(from_json.ok()) << from_json.errors[0].toString();
  EXPECT_EQ(from_json.bootstrap->canonical, yaml.bootstrap->canonical);
  EXPECT_EQ(resourceVersions(*from_json.bootstrap), resourceVersions(*yaml.bootstrap));
  EXPECT_EQ(from_json.bootstrap->clusters[0].endpoints[0].port, 8001);
}

TEST(TreeTest, JsonErrorsNameTheFieldAndRepeatedKeysAreRefused) {
  LoadResult bad = loadJson(R"({"clusters": [{"name": "b", "lb": "fastest"}], "workers": 1,
                               "workers": 2})",
                            "push");
  ASSERT_FALSE(bad.ok());
  std::vector<std::string> texts;
  for (const ConfigError& error : bad.errors) {
    texts.push_back(error.toString());
  }
  EXPECT_NE(std::find_if(texts.begin(), texts.end(),
                         [](const std::string& t) {
                           return t.find("push: workers: duplicate key \"workers\"") == 0;
                         }),
            texts.end());
  EXPECT_NE(std::find_if(texts.begin(), texts.end(),
                         [](const std::string& t) {
                           return t.find("push: clusters[0].lb: expected one of") == 0;
                         }),
            texts.end());
  LoadResult syntax = loadJson("{\"workers\": }", "push");
  ASSERT_EQ(syntax.errors.size(), 1u);
  EXPECT_EQ(syntax.errors[0].line, 1);
  EXPECT_NE(syntax.errors[0].message.find("invalid JSON: "), std::string::npos);
}

}  // namespace
}  // namespace strait::config
