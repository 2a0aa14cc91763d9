#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <string>

#include <gtest/gtest.h>

#include "proxy/upstream/load_balancer_impl.h"
#include "strait/common/random.h"
#include "strait/upstream/load_balancer.h"
#include "tests/mocks/scripted_random.h"

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

using strait::testing::ScriptedRandom;

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

class AllPoliciesTest : public ::testing::TestWithParam<config::LbPolicy> {
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

// Outlier detection's ejection takes a host out like a failed health check, and un-ejection
// brings it back at once; neither flag overrides the other.
TEST_P(AllPoliciesTest, EjectedHostsAreSkippedAndComeBack) {
  HostVector hosts = makeHosts({1, 1, 1});
  LoadBalancerPtr lb = createLoadBalancer(GetParam(), hosts, random_);
  hosts[0]->setEjected(true);
  hosts[2]->setHealthy(false);
  for (int pick : picks(*lb, hosts, 30)) {
    EXPECT_EQ(pick, 1);
  }
  hosts[0]->setEjected(false);
  hosts[1]->setEjected(true);
  for (int pick : picks(*lb, hosts, 30)) {
    EXPECT_EQ(pick, 0);
  }
}

TEST_P(AllPoliciesTest, AllEjectedOrUnhealthyPanicsOverAllHosts) {
  HostVector hosts = makeHosts({1, 1});
  hosts[0]->setEjected(true);
  hosts[1]->setHealthy(false);
  LoadBalancerPtr lb = createLoadBalancer(GetParam(), hosts, random_);
  std::map<int, int> counts;
  for (int pick : picks(*lb, hosts, 200)) {
    ++counts[pick];
  }
  EXPECT_GT(counts[0], 0);
  EXPECT_GT(counts[1], 0);
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

std::string policyName(const ::testing::TestParamInfo<config::LbPolicy>& info) {
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

INSTANTIATE_TEST_SUITE_P(Policies, AllPoliciesTest, ::testing::ValuesIn(kAllPolicies), policyName);

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

// ---- ring hash ----------------------------------------------------------------------------------

LbContext hashContext(uint64_t hash, const Host* excluded = nullptr) {
  LbContext context;
  context.has_hash = true;
  context.hash = hash;
  context.excluded = excluded;
  return context;
}

HostVector without(const HostVector& hosts, size_t index) {
  HostVector rest = hosts;
  rest.erase(rest.begin() + static_cast<ptrdiff_t>(index));
  return rest;
}

TEST(RingHashTest, RingHasAtLeastTheMinimumSizeInProportionToWeights) {
  DefaultRandomGenerator random(1);
  HostVector equal = makeHosts({1, 1, 1});
  EXPECT_GE(RingHashLoadBalancer(equal, random).ringSize(), RingHashLoadBalancer::kMinRingSize);
  HostVector weighted = makeHosts({2, 1});
  // replicas = ceil(1024 / 3) = 342: 684 + 342 points.
  EXPECT_EQ(RingHashLoadBalancer(weighted, random).ringSize(), 1026u);
  HostVector large = makeHosts({1, 1, 1, 1, 1, 1, 1, 1, 1, 2});
  EXPECT_EQ(RingHashLoadBalancer(large, random).ringSize(),
            11 * RingHashLoadBalancer::kPointsPerWeight);
  // Huge weights share the maximum ring size in proportion.
  HostVector heavy = makeHosts({UINT32_MAX, UINT32_MAX / 2});
  RingHashLoadBalancer capped(heavy, random);
  EXPECT_LE(capped.ringSize(), RingHashLoadBalancer::kMaxRingSize);
  EXPECT_GT(capped.ringSize(), RingHashLoadBalancer::kMaxRingSize - 2);
}

TEST(RingHashTest, HashKeyIsStableAndSpreads) {
  EXPECT_EQ(hashKey("10.0.0.1:80_0"), hashKey("10.0.0.1:80_0"));
  EXPECT_NE(hashKey("10.0.0.1:80_0"), hashKey("10.0.0.1:80_1"));
  // Keys that differ in their last byte still differ in the top bits (the finaliser's job).
  EXPECT_NE(hashKey("a_0") >> 60, hashKey("a_1") >> 60);
}

TEST(RingHashTest, SameHashSameHostAcrossBalancers) {
  HostVector hosts = makeHosts({1, 1, 1, 1, 1});
  DefaultRandomGenerator random(3);
  LoadBalancerPtr a = createLoadBalancer(config::LbPolicy::RingHash, hosts, random);
  LoadBalancerPtr b = createLoadBalancer(config::LbPolicy::RingHash, hosts, random);
  for (int i = 0; i < 1000; ++i) {
    uint64_t hash = random.random();
    Host* first = a->choose(hashContext(hash));
    EXPECT_EQ(a->choose(hashContext(hash)), first);
    EXPECT_EQ(b->choose(hashContext(hash)), first);  // another worker's ring agrees
  }
}

TEST(RingHashTest, EqualHostsShareTheKeysEvenly) {
  HostVector hosts = makeHosts({1, 1, 1, 1});
  DefaultRandomGenerator random(5);
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RingHash, hosts, random);
  std::map<int, int> counts;
  for (int i = 0; i < 10000; ++i) {
    ++counts[indexOf(hosts, lb->choose(hashContext(random.random())))];
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_GT(counts[i], 1875) << i;  // 2500 +- 25%
    EXPECT_LT(counts[i], 3125) << i;
  }
}

TEST(RingHashTest, WeightsAreRespected) {
  HostVector hosts = makeHosts({2, 1});
  DefaultRandomGenerator random(9);
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RingHash, hosts, random);
  std::map<int, int> counts;
  for (int i = 0; i < 10000; ++i) {
    ++counts[indexOf(hosts, lb->choose(hashContext(random.random())))];
  }
  EXPECT_GT(counts[0], 5800);  // 2/3 = 6667
  EXPECT_LT(counts[0], 7500);
}

TEST(RingHashTest, RemovingAHostMovesOnlyItsKeys) {
  HostVector hosts = makeHosts({1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  DefaultRandomGenerator random(13);
  LoadBalancerPtr full = createLoadBalancer(config::LbPolicy::RingHash, hosts, random);
  double worst = 0;
  double sum = 0;
  for (size_t removed = 0; removed < hosts.size(); ++removed) {
    HostVector rest = without(hosts, removed);
    LoadBalancerPtr smaller = createLoadBalancer(config::LbPolicy::RingHash, rest, random);
    int moved = 0;
    for (int i = 0; i < 10000; ++i) {
      LbContext context = hashContext(random.random());
      Host* before = full->choose(context);
      Host* after = smaller->choose(context);
      if (before != after) {
        ++moved;
        EXPECT_EQ(before, hosts[removed].get());  // only the removed host's keys move
      }
      EXPECT_NE(after, hosts[removed].get());
    }
    double fraction = moved / 10000.0;
    EXPECT_GT(fraction, 0.05) << removed;
    EXPECT_LE(fraction, 0.15) << removed;
    worst = std::max(worst, fraction);
    sum += fraction;
  }
  RecordProperty("worst_remapped_fraction", std::to_string(worst));
  std::printf("ring_hash: keys remapped when 1 of 10 hosts leaves: mean %.4f, worst %.4f\n",
              sum / static_cast<double>(hosts.size()), worst);
}

// An unhealthy host's keys go to the next host on the ring: exactly where a ring without that
// host sends them. Everyone else's keys stay put, and nothing is rebuilt.
TEST(RingHashTest, UnhealthyHostKeysWalkToTheNextHost) {
  // Eight hosts: enough weight that the reference ring keeps kPointsPerWeight points per host.
  HostVector hosts = makeHosts({1, 1, 1, 1, 1, 1, 1, 1});
  DefaultRandomGenerator random(17);
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RingHash, hosts, random);
  HostVector rest = without(hosts, 2);
  LoadBalancerPtr reference = createLoadBalancer(config::LbPolicy::RingHash, rest, random);
  std::vector<uint64_t> keys;
  std::vector<Host*> healthy_picks;
  for (int i = 0; i < 5000; ++i) {
    keys.push_back(random.random());
    healthy_picks.push_back(lb->choose(hashContext(keys.back())));
  }
  hosts[2]->setHealthy(false);
  for (size_t i = 0; i < keys.size(); ++i) {
    Host* pick = lb->choose(hashContext(keys[i]));
    EXPECT_NE(pick, hosts[2].get());
    EXPECT_EQ(pick, reference->choose(hashContext(keys[i])));
    if (healthy_picks[i] != hosts[2].get()) {
      EXPECT_EQ(pick, healthy_picks[i]);
    }
  }
  hosts[2]->setHealthy(true);
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(lb->choose(hashContext(keys[i])), healthy_picks[i]);  // its keys come back
  }
}

TEST(RingHashTest, ExcludedHostKeysWalkToTheNextHost) {
  HostVector hosts = makeHosts({1, 2, 1, 1, 1, 1, 1, 1});
  DefaultRandomGenerator random(19);
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RingHash, hosts, random);
  HostVector rest = without(hosts, 1);
  LoadBalancerPtr reference = createLoadBalancer(config::LbPolicy::RingHash, rest, random);
  for (int i = 0; i < 5000; ++i) {
    uint64_t hash = random.random();
    Host* plain = lb->choose(hashContext(hash));
    Host* pick = lb->choose(hashContext(hash, hosts[1].get()));
    EXPECT_NE(pick, hosts[1].get());
    EXPECT_EQ(pick, reference->choose(hashContext(hash)));
    if (plain != hosts[1].get()) {
      EXPECT_EQ(pick, plain);
    }
  }
}

TEST(RingHashTest, AllUnhealthyKeepsHashAffinity) {
  HostVector hosts = makeHosts({1, 1, 1});
  DefaultRandomGenerator random(23);
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RingHash, hosts, random);
  std::vector<Host*> healthy_picks;
  for (uint64_t key = 0; key < 100; ++key) {
    healthy_picks.push_back(lb->choose(hashContext(key * 0x9e3779b97f4a7c15ULL)));
  }
  for (auto& host : hosts) {
    host->setHealthy(false);
  }
  for (uint64_t key = 0; key < 100; ++key) {
    EXPECT_EQ(lb->choose(hashContext(key * 0x9e3779b97f4a7c15ULL)), healthy_picks[key]);
  }
}

TEST(RingHashTest, HashedPicksDoNotAllocate) {
  if (!kCountsAllocations) {
    GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  }
  HostVector hosts = makeHosts({3, 1, 2, 1});
  hosts[1]->setHealthy(false);
  DefaultRandomGenerator random(29);
  LoadBalancerPtr lb = createLoadBalancer(config::LbPolicy::RingHash, hosts, random);
  size_t before = g_allocations.load();
  for (uint64_t key = 0; key < 1000; ++key) {
    lb->choose(hashContext(key * 0x9e3779b97f4a7c15ULL));
    lb->choose(hashContext(key * 0x9e3779b97f4a7c15ULL, hosts[0].get()));
  }
  EXPECT_EQ(g_allocations.load() - before, 0u);
}

}  // namespace
}  // namespace strait::upstream
