// The proxy's discovery client against an in-process HTTP/2 server (strait-cp's own): what it
// sends first, how it answers, a push whose types arrive in separate reads applied together
// rather than NACKed, a response that never applies NACKed after the settle time, and a
// reconnect that resumes from the versions applied.

#include "proxy/discovery/discovery_client.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "control/http_server.h"
#include "tests/unit/control/test_loop.h"

namespace strait::discovery {
namespace {

using config::DiscoveryResponse;
using config::ResourceType;
using cp::ExchangePtr;

class FixedRandom : public RandomGenerator {
 public:
  uint64_t random() override { return 0; }
};

struct Fixture {
  cp::test::LoopThread loop;
  std::unique_ptr<cp::HttpServer> server;
  std::vector<ExchangePtr> streams;
  std::vector<config::DiscoveryRequest> requests;  // every line the client sent
  std::string partial;
  FixedRandom random;
  std::unique_ptr<DiscoveryClient> client;
  // The proxy side: what is applied, and the rule for what applies (a cluster needs endpoints).
  std::map<ResourceType, std::string> applied;
  std::vector<std::pair<ResourceType, std::string>> answered;
  std::vector<std::string> refuse;  // versions that never apply

  explicit Fixture(uint64_t settle_ms = 60000) {
    loop.run([&] {
      server = std::make_unique<cp::HttpServer>(
          loop.loop(), cp::HttpServerOptions{}, [this](const ExchangePtr& exchange) {
            streams.push_back(exchange);
            exchange->start(200, {{"content-type", "application/x-ndjson"}});
            cp::Exchange::Callbacks callbacks;
            callbacks.on_data = [this](std::string_view data) {
              partial.append(data);
              size_t newline;
              while ((newline = partial.find('\n')) != std::string::npos) {
                std::string error;
                auto request = config::parseRequest(partial.substr(0, newline), error);
                EXPECT_TRUE(request.has_value()) << error;
                if (request) {
                  requests.push_back(*request);
                }
                partial.erase(0, newline + 1);
              }
            };
            exchange->setCallbacks(std::move(callbacks));
          });
      std::string error;
      EXPECT_TRUE(server->listen("127.0.0.1", 0, error)) << error;
      ClientOptions options;
      options.host = "127.0.0.1";
      options.port = server->port();
      options.node = {"edge-1", "edge", "", ""};
      options.types = {ResourceType::Clusters, ResourceType::Endpoints};
      options.backoff_base_ms = 10;
      options.settle_ms = settle_ms;
      options.on_answered = [this](ResourceType type, const std::string& error) {
        answered.emplace_back(type, error);
      };
      client = std::make_unique<DiscoveryClient>(
          loop.loop(), options, random,
          [this](const std::vector<DiscoveryResponse>& batch) { return apply(batch); },
          [this](ResourceType type) { return applied.count(type) ? applied[type] : ""; });
      client->start();
    });
  }

  ~Fixture() {
    loop.run([&] {
      client.reset();
      streams.clear();
      server.reset();
    });
    EXPECT_EQ(loop.stop(), 0);  // no handle left open
  }

  std::vector<std::string> apply(const std::vector<DiscoveryResponse>& batch) {
    std::map<ResourceType, std::string> candidate = applied;
    for (const auto& response : batch) {
      candidate[response.type] = response.version_info;
    }
    bool ok = !(candidate.count(ResourceType::Clusters) &&
                !candidate.count(ResourceType::Endpoints));
    for (const auto& response : batch) {
      ok = ok && std::find(refuse.begin(), refuse.end(), response.version_info) == refuse.end();
    }
    if (!ok) {
      return std::vector<std::string>(batch.size(), "clusters/api: no endpoints");
    }
    applied = candidate;
    return std::vector<std::string>(batch.size());
  }

  void push(size_t stream, ResourceType type, const std::string& version,
            const std::string& nonce) {
    loop.run([&] {
      DiscoveryResponse response;
      response.type = type;
      response.version_info = version;
      response.nonce = nonce;
      streams[stream]->write(config::serialize(response) + "\n");
    });
  }
  size_t requestCount() {
    return loop.run([&] { return requests.size(); });
  }
};

TEST(DiscoveryClientTest, ATypeArrivingAloneWaitsForTheRestOfThePush) {
  Fixture f;
  ASSERT_TRUE(f.loop.waitFor([&] { return f.requests.size() == 2; }));
  EXPECT_EQ(f.requests[0].type, ResourceType::Clusters);
  EXPECT_EQ(f.requests[0].node.id, "edge-1");
  EXPECT_TRUE(f.requests[0].response_nonce.empty());
  EXPECT_EQ(f.requests[1].type, ResourceType::Endpoints);
  f.push(0, ResourceType::Clusters, "c1", "n1");
  // The clusters do not apply without endpoints: no answer yet (the settle time is long here).
  ASSERT_TRUE(f.loop.waitFor([&] { return f.client->stats().responses == 1; }));
  f.push(0, ResourceType::Endpoints, "e1", "n2");
  ASSERT_TRUE(f.loop.waitFor([&] { return f.requests.size() == 4; }));
  f.loop.run([&] {
    EXPECT_EQ(f.requests[2].response_nonce, "n1");
    EXPECT_EQ(f.requests[2].version_info, "c1");
    EXPECT_FALSE(f.requests[2].error_detail.has_value());  // an ACK, not a NACK
    EXPECT_EQ(f.requests[3].response_nonce, "n2");
    EXPECT_FALSE(f.requests[3].error_detail.has_value());
    EXPECT_EQ(f.applied[ResourceType::Clusters], "c1");
    EXPECT_TRUE(f.client->connected());
  });
}

TEST(DiscoveryClientTest, AResponseThatNeverAppliesIsNackedWithTheLastGoodVersion) {
  Fixture f(/*settle_ms=*/20);
  ASSERT_TRUE(f.loop.waitFor([&] { return f.requests.size() == 2; }));
  f.push(0, ResourceType::Endpoints, "e1", "n1");
  ASSERT_TRUE(f.loop.waitFor([&] { return f.requests.size() == 3; }));
  f.loop.run([&] { f.refuse.push_back("e2"); });
  f.push(0, ResourceType::Endpoints, "e2", "n2");
  ASSERT_TRUE(f.loop.waitFor([&] { return f.requests.size() == 4; }));
  f.loop.run([&] {
    const config::DiscoveryRequest& nack = f.requests[3];
    EXPECT_EQ(nack.response_nonce, "n2");
    EXPECT_EQ(nack.version_info, "e1");  // the last good one
    ASSERT_TRUE(nack.error_detail.has_value());
    EXPECT_EQ(nack.error_detail->code, 3);
    EXPECT_EQ(nack.error_detail->message, "clusters/api: no endpoints");
    ASSERT_EQ(f.answered.size(), 2u);
    EXPECT_EQ(f.answered[1].second, "clusters/api: no endpoints");
  });
}

TEST(DiscoveryClientTest, ALostStreamIsRetriedAndResumesFromTheAppliedVersions) {
  Fixture f;
  ASSERT_TRUE(f.loop.waitFor([&] { return f.requests.size() == 2; }));
  f.push(0, ResourceType::Endpoints, "e1", "n1");
  ASSERT_TRUE(f.loop.waitFor([&] { return f.requests.size() == 3; }));
  f.loop.run([&] { f.streams[0]->finish(); });  // strait-cp ends the stream
  ASSERT_TRUE(f.loop.waitFor([&] { return f.streams.size() == 2 && f.requests.size() == 5; }));
  f.loop.run([&] {
    EXPECT_GE(f.client->stats().connect_attempts, 2u);
    EXPECT_EQ(f.requests[4].type, ResourceType::Endpoints);
    EXPECT_EQ(f.requests[4].version_info, "e1");  // resumes from what it applied
    EXPECT_TRUE(f.requests[4].response_nonce.empty());
  });
}

}  // namespace
}  // namespace strait::discovery
