#include <atomic>
#include <cstdlib>
#include <deque>
#include <map>
#include <new>
#include <string>

#include <gtest/gtest.h>

#include "proxy/upstream/load_balancer_impl.h"
#include "strait/common/random.h"
#include "strait/upstream/load_balancer.h"

// Counts heap allocations so tests can assert that the per-request path allocates nothing. The
// replacements live at global scope. noinline keeps GCC from seeing malloc() paired with operator
// delete at inlined call sites (-Wmismatched-new-delete). AddressSanitizer replaces every
// operator new itself, so there the count is not kept and the allocation tests are skipped.
namespace {
std::atomic<size_t> g_allocations{0};
}  // namespace

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCountsAllocations = false;
#else
constexpr bool kCountsAllocations = true;

__attribute__((noinline)) void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
#endif

namespace strait::upstream {
namespace {

// Returns the scripted values in order, then 0 forever.
class ScriptedRandom : public RandomGenerator {
 public:
  void push(std::initializer_list<uint64_t> values) { values_.insert(values_.end(), values); }
  uint64_t random() override {
    ++calls_;
    if (values_.empty()) {
      return 0;
    }
    uint64_t v = values_.front();
    values_.pop_front();
    return v;
  }
  size_t calls() const { return calls_; }

 private:
  std::deque<uint64_t> values_;
  size_t calls_ = 0;
};

HostVector makeHosts(std::initializer_list<uint32_t> weights) {
  HostVector hosts;
  uint16_t port = 10000;
  for (uint32_t weight : weights) {
    hosts.push_back(std::make_shared<Host>("10.0.0.1", port++, weight, config::Locality{}));
  }
  return hosts;
}

// Host index of a pick, for readable expectations.
int indexOf(const HostVector& hosts, const Host* host) {
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (hosts[i].get() == host) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

std::vector<int> picks(LoadBalancer& lb, const HostVector& hosts, int n,
                       const LbContext& context = {}) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(indexOf(hosts, lb.choose(context)));
  }
  return out;
}

const config::LbPolicy kAllPolicies[] = {config::LbPolicy::RoundRobin,
                                         config::LbPolicy::LeastRequest, config::LbPolicy::Random,
                                         config::LbPolicy::RingHash};

// ---- behaviour shared by every policy -----------------------------------------------------------

class AllPoliciesTest : public testing::TestWithParam<config::LbPolicy> {
 protected:
  DefaultRandomGenerator random_{42};
};

TEST_P(AllPoliciesTest, EmptyClusterGivesNull) {
  HostVector hosts;
  LoadBalancerPtr lb = createLoadBalancer(GetParam(), hosts, random_);
  EXPECT_EQ(lb->choose({}), nullptr);
}

TEST_P(AllPoliciesTest, UnhealthyHostsAreSkipped) {
  HostVector hosts = makeHosts({1, 1, 1, 1});
  hosts[0]->setHealthy(false);
  hosts[2]->setHealthy(false);
  LoadBalancerPtr lb = createLoadBalancer(GetParam(), hosts, random_);
  std::map<int, int> counts;
  for (int pick : picks(*lb, hosts, 200)) {
    ++counts[pick];
  }
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[2], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[3], 0);
}

TEST_P(AllPoliciesTest, HealthChangesAreSeenAtOnce) {
  HostVector hosts = makeHosts({1, 1, 1});
  LoadBalancerPtr lb = createLoadBalancer(GetParam(), hosts, random_);
  picks(*lb, hosts, 10);
  hosts[0]->setHealthy(false);
  hosts[1]->setHealthy(false);
  for (int pick : picks(*lb, hosts, 20)) {
    EXPECT_EQ(pick, 2);
  }
  hosts[0]->setHealthy(true);
  hosts[2]->setHealthy(false);
  for (int pick : picks(*lb, hosts, 20)) {
    EXPECT_EQ(pick, 0);
  }
}

TEST_P(AllPoliciesTest, AllUnhealthyPanicsOverAllHosts) {
  HostVector hosts = makeHosts({1, 1, 1});
  for (auto& host : hosts) {
    host->setHealthy(false);
  }
  LoadBalancerPtr lb = createLoadBalancer(GetParam(), hosts, random_);
  std::map<int, int> counts;
  for (int pick : picks(*lb, hosts, 300)) {
    ++counts[pick];
  }
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[2], 0);
}

TEST_P(AllPoliciesTest, ExcludedHostIsAvoided) {
  HostVector hosts = makeHosts({1, 1, 1});
  LoadBalancerPtr lb = createLoadBalancer(GetParam(), hosts, random_);
  LbContext context;
  context.excluded = hosts[1].get();
  std::map<int, int> counts;
  for (int pick : picks(*lb, hosts, 200, context)) {
    ++counts[pick];
  }
  EXPECT_EQ(counts[1], 0);
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[2], 0);
}

TEST_P(AllPoliciesTest, ExcludedHostIsAvoidedInPanic) {
  HostVector hosts = makeHosts({1, 1});
  hosts[0]->setHealthy(false);
  hosts[1]->setHealthy(false);
  LoadBalancerPtr lb = createLoadBalancer(GetParam(), hosts, random_);
  LbContext context;
  context.excluded = hosts[0].get();
  for (int pick : picks(*lb, hosts, 20, context)) {
    EXPECT_EQ(pick, 1);
  }
}

TEST_P(AllPoliciesTest, OnlyExcludedHostIsStillReturned) {
  HostVector hosts = makeHosts({1});
  LoadBalancerPtr lb = createLoadBalancer(GetParam(), hosts, random_);
  LbContext context;
  context.excluded = hosts[0].get();
  EXPECT_EQ(lb->choose(context), hosts[0].get());
}

TEST_P(AllPoliciesTest, OnlyHealthyHostIsReturnedEvenWhenExcluded) {
  // The excluded host is the only healthy one: it beats the unhealthy hosts.
  HostVector hosts = makeHosts({1, 1, 1});
  hosts[0]->setHealthy(false);
  hosts[2]->setHealthy(false);
  LoadBalancerPtr lb = createLoadBalancer(GetParam(), hosts, random_);
  LbContext context;
  context.excluded = hosts[1].get();
  for (int pick : picks(*lb, hosts, 10, context)) {
    EXPECT_EQ(pick, 1);
  }
}

TEST_P(AllPoliciesTest, ExcludedHostAvoidedWithWeights) {
  HostVector hosts = makeHosts({5, 1, 2});
  LoadBalancerPtr lb = createLoadBalancer(GetParam(), hosts, random_);
  LbContext context;
  context.excluded = hosts[0].get();
  for (int pick : picks(*lb, hosts, 50, context)) {
    EXPECT_NE(pick, 0);
  }
}

std::string policyName(const testing::TestParamInfo<config::LbPolicy>& info) {
  switch (info.param) {
    case config::LbPolicy::RoundRobin:
      return "RoundRobin";
    case config::LbPolicy::LeastRequest:
      return "LeastRequest";
    case config::LbPolicy::Random:
      return "Random";
    case config::LbPolicy::RingHash:
      return "RingHash";
  }
  return "Unknown";
}

TEST_P(AllPoliciesTest, PicksDoNotAllocate) {
  if (!kCountsAllocations) {
    GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  }
  size_t at_start = g_allocations.load();
  HostVector hosts = makeHosts({3, 1, 2, 1});
  EXPECT_GT(g_allocations.load(), at_start);  // the counter does see allocations
  hosts[1]->setHealthy(false);
  LoadBalancerPtr lb = createLoadBalancer(GetParam(), hosts, random_);
  LbContext context;
  context.excluded = hosts[2].get();
  lb->choose(context);  // first pick may size per-host state
  size_t before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    lb->choose(context);
    lb->choose({});
  }
  EXPECT_EQ(g_allocations.load() - before, 0u);
}

INSTANTIATE_TEST_SUITE_P(Policies, AllPoliciesTest, testing::ValuesIn(kAllPolicies), policyName);

// ---- round robin --------------------------------------------------------------------------------

TEST(RoundRobinTest, EqualWeightsRotate) {
  HostVector hosts = makeHosts({1, 1, 1});
  ScriptedRandom random;  // start position 0
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RoundRobin, hosts, random);
  EXPECT_EQ(picks(*lb, hosts, 7), (std::vector<int>{0, 1, 2, 0, 1, 2, 0}));
  EXPECT_EQ(random.calls(), 1u);  // only the start position is random
}

TEST(RoundRobinTest, StartPositionIsRandom) {
  HostVector hosts = makeHosts({2, 2, 2, 2});
  ScriptedRandom random;
  random.push({6});  // 6 % 4 = 2
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RoundRobin, hosts, random);
  EXPECT_EQ(picks(*lb, hosts, 5), (std::vector<int>{2, 3, 0, 1, 2}));
}

TEST(RoundRobinTest, RotationSkipsUnhealthy) {
  HostVector hosts = makeHosts({1, 1, 1, 1});
  hosts[1]->setHealthy(false);
  ScriptedRandom random;
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RoundRobin, hosts, random);
  EXPECT_EQ(picks(*lb, hosts, 6), (std::vector<int>{0, 2, 3, 0, 2, 3}));
}

TEST(RoundRobinTest, PanicRotatesOverAll) {
  HostVector hosts = makeHosts({1, 1, 1});
  for (auto& host : hosts) {
    host->setHealthy(false);
  }
  ScriptedRandom random;
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RoundRobin, hosts, random);
  EXPECT_EQ(picks(*lb, hosts, 4), (std::vector<int>{0, 1, 2, 0}));
}

TEST(RoundRobinTest, WeightsThreeToOneAreExact) {
  HostVector hosts = makeHosts({3, 1});
  ScriptedRandom random;
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RoundRobin, hosts, random);
  std::map<int, int> counts;
  for (int pick : picks(*lb, hosts, 400)) {
    ++counts[pick];
  }
  EXPECT_EQ(counts[0], 300);
  EXPECT_EQ(counts[1], 100);
}

TEST(RoundRobinTest, WeightedPicksAreInterleavedAndExactPerCycle) {
  HostVector hosts = makeHosts({5, 1, 1});
  ScriptedRandom random;
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RoundRobin, hosts, random);
  // Smooth weighted round robin: the heavy host never runs more than its share in a row.
  EXPECT_EQ(picks(*lb, hosts, 7), (std::vector<int>{0, 0, 1, 0, 2, 0, 0}));
  for (int cycle = 0; cycle < 10; ++cycle) {
    std::map<int, int> counts;
    for (int pick : picks(*lb, hosts, 7)) {
      ++counts[pick];
    }
    EXPECT_EQ(counts[0], 5);
    EXPECT_EQ(counts[1], 1);
    EXPECT_EQ(counts[2], 1);
  }
}

TEST(RoundRobinTest, WeightedSkipsUnhealthy) {
  HostVector hosts = makeHosts({3, 1, 2});
  hosts[0]->setHealthy(false);
  ScriptedRandom random;
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RoundRobin, hosts, random);
  std::map<int, int> counts;
  for (int pick : picks(*lb, hosts, 300)) {
    ++counts[pick];
  }
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[1], 100);
  EXPECT_EQ(counts[2], 200);
}

// ---- least request ------------------------------------------------------------------------------

TEST(LeastRequestTest, PicksTheLessLoadedOfTwo) {
  HostVector hosts = makeHosts({1, 1, 1});
  hosts[0]->requestStarted();
  hosts[0]->requestStarted();
  hosts[2]->requestStarted();
  ScriptedRandom random;
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::LeastRequest, hosts, random);
  random.push({0, 1});  // first = 0; second = 1 of the other two -> index 2
  EXPECT_EQ(lb->choose({}), hosts[2].get());
  random.push({2, 0});  // first = 2; second = 0
  EXPECT_EQ(lb->choose({}), hosts[2].get());
  random.push({0, 0});  // first = 0; second = 0 -> shifted past first -> 1
  EXPECT_EQ(lb->choose({}), hosts[1].get());
}

TEST(LeastRequestTest, TieGoesToTheFirstDraw) {
  HostVector hosts = makeHosts({1, 1, 1});
  ScriptedRandom random;
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::LeastRequest, hosts, random);
  random.push({2, 0});
  EXPECT_EQ(lb->choose({}), hosts[2].get());
  random.push({1, 1});  // second: 1 -> 2
  EXPECT_EQ(lb->choose({}), hosts[1].get());
}

TEST(LeastRequestTest, DrawsAmongHealthyOnly) {
  HostVector hosts = makeHosts({1, 1, 1, 1});
  hosts[0]->setHealthy(false);
  hosts[2]->setHealthy(false);
  hosts[1]->requestStarted();
  ScriptedRandom random;
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::LeastRequest, hosts, random);
  random.push({0, 0});  // candidates [1, 3]: first = 1, second = 3
  EXPECT_EQ(lb->choose({}), hosts[3].get());
}

TEST(LeastRequestTest, FinishedRequestsCount) {
  HostVector hosts = makeHosts({1, 1});
  ScriptedRandom random;
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::LeastRequest, hosts, random);
  hosts[0]->requestStarted();
  random.push({0, 0});
  EXPECT_EQ(lb->choose({}), hosts[1].get());
  hosts[0]->requestFinished();
  random.push({0, 0});
  EXPECT_EQ(lb->choose({}), hosts[0].get());
}

// ---- random -------------------------------------------------------------------------------------

TEST(RandomLbTest, RoughlyUniform) {
  HostVector hosts = makeHosts({1, 1, 1, 1});
  DefaultRandomGenerator random(7);
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::Random, hosts, random);
  std::map<int, int> counts;
  for (int pick : picks(*lb, hosts, 10000)) {
    ++counts[pick];
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_GT(counts[i], 2200) << i;
    EXPECT_LT(counts[i], 2800) << i;
  }
}

TEST(RandomLbTest, WeightedProportions) {
  HostVector hosts = makeHosts({3, 1});
  DefaultRandomGenerator random(11);
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::Random, hosts, random);
  std::map<int, int> counts;
  for (int pick : picks(*lb, hosts, 10000)) {
    ++counts[pick];
  }
  EXPECT_GT(counts[0], 7100);
  EXPECT_LT(counts[0], 7900);
}

TEST(RandomLbTest, ScriptedPicksMapToHealthyCandidates) {
  HostVector hosts = makeHosts({1, 1, 1});
  hosts[0]->setHealthy(false);
  ScriptedRandom random;
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::Random, hosts, random);
  random.push({0, 1, 2});
  EXPECT_EQ(picks(*lb, hosts, 3), (std::vector<int>{1, 2, 1}));
}

}  // namespace
}  // namespace strait::upstream
