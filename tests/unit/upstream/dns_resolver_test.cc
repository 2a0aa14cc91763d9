// DnsResolver's refresh rules with a scripted lookup: a changed answer publishes the new
// addresses, an unchanged one publishes nothing, and a failed or empty one keeps the last good
// addresses and is counted.

#include "proxy/upstream/dns_resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include <uv.h>

namespace strait::upstream {
namespace {

sockaddr_storage v4(const char* ip, uint16_t port) {
  sockaddr_storage out{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&out);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  inet_pton(AF_INET, ip, &sin->sin_addr);
  return out;
}

struct Answer {
  int status;
  AddressList addresses;
};

class DnsResolverTest : public ::testing::Test {
 protected:
  DnsResolverTest() : dispatcher_(time_), store_(1) {
    dns_.name = "api.internal";
    dns_.port = 8080;
    dns_.refresh = std::chrono::milliseconds(1);
  }

  // Runs the resolver until every scripted answer has been given.
  void run(std::deque<Answer> script, AddressList known) {
    resolver_ = std::make_unique<DnsResolver>(
        dispatcher_, "backend", dns_, std::move(known), store_,
        [this](const std::string& cluster, AddressList addresses) {
          EXPECT_EQ(cluster, "backend");
          changes_.push_back(std::move(addresses));
        },
        [this, script](const std::string& name, uint16_t port, DnsLookupDone done) mutable {
          EXPECT_EQ(name, "api.internal");
          EXPECT_EQ(port, 8080);
          lookups_++;
          Answer answer = script.front();
          script.pop_front();
          done(answer.status, answer.addresses);
          if (script.empty()) {
            uv_stop(dispatcher_.loop());
          }
        });
    uv_run(dispatcher_.loop(), UV_RUN_DEFAULT);
    resolver_.reset();
  }

  uint64_t counter(const char* name) {
    return store_.counterValue(store_.counter(name, "", {{"cluster", "backend"}}));
  }

  RealTimeSource time_;
  event::DispatcherImpl dispatcher_;
  stats::Store store_;
  config::DnsDiscovery dns_;
  std::unique_ptr<DnsResolver> resolver_;
  std::vector<AddressList> changes_;
  int lookups_ = 0;
};

TEST_F(DnsResolverTest, ChangedAnswerIsPublishedUnchangedIsNot) {
  AddressList a{v4("10.0.0.1", 8080)};
  AddressList ab{v4("10.0.0.2", 8080), v4("10.0.0.1", 8080)};  // order does not matter
  run({{0, a}, {0, ab}, {0, {ab[1], ab[0]}}}, a);
  EXPECT_EQ(lookups_, 3);
  ASSERT_EQ(changes_.size(), 1u);
  ASSERT_EQ(changes_[0].size(), 2u);
  AddressList sorted = ab;
  normalizeAddresses(sorted);
  EXPECT_TRUE(sameAddresses(changes_[0], sorted));
  EXPECT_EQ(counter("strait_dp_dns_resolutions_total"), 3u);
  EXPECT_EQ(counter("strait_dp_dns_resolution_failures_total"), 0u);
}

TEST_F(DnsResolverTest, FailedLookupKeepsTheLastGoodAddresses) {
  AddressList a{v4("10.0.0.1", 8080)};
  AddressList b{v4("10.0.0.9", 8080)};
  // A failure and an empty answer change nothing; the next good answer is compared with the
  // last good one, so returning to it publishes nothing either.
  run({{UV_EAI_AGAIN, {}}, {0, {}}, {0, a}, {UV_EAI_NONAME, {}}, {0, b}}, a);
  EXPECT_EQ(lookups_, 5);
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_TRUE(sameAddresses(changes_[0], b));
  EXPECT_EQ(counter("strait_dp_dns_resolution_failures_total"), 3u);
}

}  // namespace
}  // namespace strait::upstream
