#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "proxy/upstream/outlier_detector.h"
#include "tests/mocks/simulated_time.h"

namespace strait::upstream {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Kind = OutlierDetectorKind;

HostVector makeHosts(size_t n) {
  HostVector hosts;
  for (size_t i = 0; i < n; ++i) {
    hosts.push_back(std::make_shared<Host>("10.0.0.1", static_cast<uint16_t>(10000 + i), 1,
                                           config::Locality{}));
  }
  return hosts;
}

config::OutlierDetection baseConfig() {
  config::OutlierDetection c;
  c.consecutive_5xx = 5;
  c.consecutive_gateway_failure = 0;
  c.consecutive_local_origin_failure = 3;
  c.interval = seconds(10);
  c.base_ejection_time = seconds(30);
  c.max_ejection_time = seconds(300);
  c.max_ejection_percent = 100;
  return c;
}

class OutlierDetectorTest : public ::testing::Test {
 protected:
  // Advances the clock by one interval and evaluates, as the main thread's timer would.
  void tick(OutlierDetector& detector, milliseconds by = seconds(10)) {
    time_.advance(by);
    detector.evaluate();
  }
  int64_t untilMs(const OutlierDetector& detector, const Host& host) const {
    return std::chrono::duration_cast<milliseconds>(
               detector.ejectedUntil(host).time_since_epoch())
        .count();
  }

  testing::SimulatedTimeSource time_;
};

TEST_F(OutlierDetectorTest, FifthConsecutive5xxEjectsAtOnceForBaseTime) {
  HostVector hosts = makeHosts(4);
  OutlierDetector detector(baseConfig(), hosts, time_);
  for (int i = 0; i < 4; ++i) {
    detector.reportStatus(*hosts[1], 500);
  }
  EXPECT_FALSE(hosts[1]->ejected());
  detector.reportStatus(*hosts[1], 503);
  EXPECT_TRUE(hosts[1]->ejected());
  EXPECT_FALSE(hosts[1]->available());
  EXPECT_FALSE(hosts[0]->ejected());
  EXPECT_EQ(untilMs(detector, *hosts[1]), time_.nowMs() + 30000);
  EXPECT_EQ(detector.ejectionsTotal(Kind::Consecutive5xx), 1u);
  EXPECT_EQ(detector.ejectionsActive(), 1u);

  // Still out at 29.999 s; back at the first evaluation at or after 30 s.
  tick(detector, milliseconds(29999));
  EXPECT_TRUE(hosts[1]->ejected());
  tick(detector, milliseconds(1));
  EXPECT_FALSE(hosts[1]->ejected());
  EXPECT_TRUE(hosts[1]->available());
  EXPECT_EQ(detector.ejectionsActive(), 0u);
}

TEST_F(OutlierDetectorTest, SuccessBreaksTheStreak) {
  HostVector hosts = makeHosts(3);
  OutlierDetector detector(baseConfig(), hosts, time_);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 4; ++i) {
      detector.reportStatus(*hosts[0], 502);
    }
    detector.reportStatus(*hosts[0], 404);  // not a server failure
  }
  EXPECT_FALSE(hosts[0]->ejected());
  EXPECT_EQ(detector.detected(Kind::Consecutive5xx), 0u);
  // Resets and timeouts count as 5xx.
  detector.reportStatus(*hosts[0], 500);
  detector.reportReset(*hosts[0]);
  detector.reportTimeout(*hosts[0]);
  detector.reportStatus(*hosts[0], 500);
  EXPECT_FALSE(hosts[0]->ejected());
  detector.reportReset(*hosts[0]);
  EXPECT_TRUE(hosts[0]->ejected());
}

TEST_F(OutlierDetectorTest, EjectionTimeGrowsWithEjectionsIsCappedAndDecays) {
  HostVector hosts = makeHosts(2);
  config::OutlierDetection config = baseConfig();
  config.max_ejection_time = seconds(70);
  OutlierDetector detector(config, hosts, time_);
  auto eject = [&] {
    for (int i = 0; i < 5; ++i) {
      detector.reportStatus(*hosts[0], 500);
    }
    ASSERT_TRUE(hosts[0]->ejected());
  };
  eject();
  EXPECT_EQ(detector.multiplier(*hosts[0]), 1u);
  EXPECT_EQ(untilMs(detector, *hosts[0]), time_.nowMs() + 30000);
  tick(detector, seconds(30));  // un-ejected in this tick: no decay yet
  ASSERT_FALSE(hosts[0]->ejected());
  EXPECT_EQ(detector.multiplier(*hosts[0]), 1u);

  eject();  // again at once: 2 x 30 s
  EXPECT_EQ(detector.multiplier(*hosts[0]), 2u);
  EXPECT_EQ(untilMs(detector, *hosts[0]), time_.nowMs() + 60000);
  tick(detector, seconds(60));
  ASSERT_FALSE(hosts[0]->ejected());

  eject();  // 3 x 30 s = 90 s, capped at 70 s
  EXPECT_EQ(detector.multiplier(*hosts[0]), 3u);
  EXPECT_EQ(untilMs(detector, *hosts[0]), time_.nowMs() + 70000);
  tick(detector, seconds(70));
  ASSERT_FALSE(hosts[0]->ejected());

  // Two healthy intervals take the multiplier from 3 to 1: the next ejection is 2 x 30 s.
  tick(detector);
  tick(detector);
  EXPECT_EQ(detector.multiplier(*hosts[0]), 1u);
  eject();
  EXPECT_EQ(untilMs(detector, *hosts[0]), time_.nowMs() + 60000);
}

TEST_F(OutlierDetectorTest, TenPercentOfThreeHostsStillAllowsOneEjection) {
  HostVector hosts = makeHosts(3);
  config::OutlierDetection config = baseConfig();
  config.max_ejection_percent = 10;
  OutlierDetector detector(config, hosts, time_);
  EXPECT_EQ(detector.maxEjected(), 1u);
  for (int i = 0; i < 5; ++i) {
    detector.reportStatus(*hosts[2], 500);
  }
  EXPECT_TRUE(hosts[2]->ejected());
  for (int i = 0; i < 5; ++i) {
    detector.reportStatus(*hosts[0], 500);
  }
  EXPECT_FALSE(hosts[0]->ejected());  // would make 2 of 3 = 67% > 10%
  EXPECT_EQ(detector.ejectionsOverflow(), 1u);
  EXPECT_EQ(detector.detected(Kind::Consecutive5xx), 2u);
  EXPECT_EQ(detector.ejectionsTotal(Kind::Consecutive5xx), 1u);
  // The prevented host gets another chance after another full streak once room is made.
  tick(detector, seconds(30));
  ASSERT_FALSE(hosts[2]->ejected());
  for (int i = 0; i < 5; ++i) {
    detector.reportStatus(*hosts[0], 500);
  }
  EXPECT_TRUE(hosts[0]->ejected());
}

TEST_F(OutlierDetectorTest, NeverEjectsTheLastHost) {
  HostVector hosts = makeHosts(2);
  OutlierDetector detector(baseConfig(), hosts, time_);  // 100%
  EXPECT_EQ(detector.maxEjected(), 1u);
  for (int i = 0; i < 5; ++i) {
    detector.reportStatus(*hosts[0], 500);
    detector.reportStatus(*hosts[1], 500);
  }
  EXPECT_TRUE(hosts[0]->ejected());
  EXPECT_FALSE(hosts[1]->ejected());
  EXPECT_EQ(detector.ejectionsOverflow(), 1u);

  HostVector single = makeHosts(1);
  OutlierDetector lone(baseConfig(), single, time_);
  EXPECT_EQ(lone.maxEjected(), 0u);
  for (int i = 0; i < 5; ++i) {
    lone.reportStatus(*single[0], 500);
  }
  EXPECT_FALSE(single[0]->ejected());
}

TEST_F(OutlierDetectorTest, ZeroPercentNeverEjects) {
  HostVector hosts = makeHosts(10);
  config::OutlierDetection config = baseConfig();
  config.max_ejection_percent = 0;
  OutlierDetector detector(config, hosts, time_);
  for (int i = 0; i < 5; ++i) {
    detector.reportStatus(*hosts[0], 500);
  }
  EXPECT_FALSE(hosts[0]->ejected());
  EXPECT_EQ(detector.ejectionsOverflow(), 1u);
}

TEST_F(OutlierDetectorTest, GatewayFailuresCountOnly502To504AndResets) {
  HostVector hosts = makeHosts(3);
  config::OutlierDetection config = baseConfig();
  config.consecutive_5xx = 0;
  config.consecutive_gateway_failure = 3;
  OutlierDetector detector(config, hosts, time_);
  detector.reportStatus(*hosts[0], 502);
  detector.reportStatus(*hosts[0], 504);
  detector.reportStatus(*hosts[0], 500);  // a 5xx but not a gateway failure: the streak restarts
  detector.reportStatus(*hosts[0], 503);
  detector.reportReset(*hosts[0]);
  EXPECT_FALSE(hosts[0]->ejected());
  detector.reportTimeout(*hosts[0]);
  EXPECT_TRUE(hosts[0]->ejected());
  EXPECT_EQ(detector.ejectionsTotal(Kind::ConsecutiveGatewayFailure), 1u);
  EXPECT_EQ(detector.ejectionsTotal(Kind::Consecutive5xx), 0u);
}

TEST_F(OutlierDetectorTest, ConnectFailuresEjectAndAnyResponseResetsThem) {
  HostVector hosts = makeHosts(3);
  OutlierDetector detector(baseConfig(), hosts, time_);  // local origin threshold 3
  detector.reportConnectFailure(*hosts[1]);
  detector.reportConnectFailure(*hosts[1]);
  detector.reportStatus(*hosts[1], 503);  // the host answered: it is reachable
  detector.reportConnectFailure(*hosts[1]);
  detector.reportConnectFailure(*hosts[1]);
  EXPECT_FALSE(hosts[1]->ejected());
  detector.reportConnectFailure(*hosts[1]);
  EXPECT_TRUE(hosts[1]->ejected());
  EXPECT_EQ(detector.ejectionsTotal(Kind::ConsecutiveLocalOriginFailure), 1u);
}

TEST_F(OutlierDetectorTest, NotEnforcingCountsButDoesNotEject) {
  HostVector hosts = makeHosts(3);
  config::OutlierDetection config = baseConfig();
  config.enforcing.consecutive_5xx = false;
  OutlierDetector detector(config, hosts, time_);
  for (int i = 0; i < 10; ++i) {
    detector.reportStatus(*hosts[0], 500);
  }
  EXPECT_FALSE(hosts[0]->ejected());
  EXPECT_EQ(detector.detected(Kind::Consecutive5xx), 2u);
  EXPECT_EQ(detector.ejectionsTotal(Kind::Consecutive5xx), 0u);
}

// Rates 100, 100, 100, 100, 50: mean 90, stdev 20, threshold 90 - 1.9 * 20 = 52: only host 4.
TEST_F(OutlierDetectorTest, SuccessRateEjectsBelowMeanMinusFactorStdev) {
  HostVector hosts = makeHosts(6);
  config::OutlierDetection config = baseConfig();
  config.consecutive_5xx = 0;
  config.success_rate = config::OutlierSuccessRate{5, 100, 1900};
  OutlierDetector detector(config, hosts, time_);
  for (size_t h = 0; h < 5; ++h) {
    for (int i = 0; i < 100; ++i) {
      detector.reportStatus(*hosts[h], h == 4 && i % 2 == 0 ? 500 : 200);
    }
  }
  for (int i = 0; i < 99; ++i) {
    detector.reportStatus(*hosts[5], 500);  // below request_volume: not judged, not in the mean
  }
  tick(detector);
  EXPECT_TRUE(hosts[4]->ejected());
  for (size_t h : {0, 1, 2, 3, 5}) {
    EXPECT_FALSE(hosts[h]->ejected()) << h;
  }
  EXPECT_EQ(detector.ejectionsTotal(Kind::SuccessRate), 1u);
  EXPECT_EQ(untilMs(detector, *hosts[4]), time_.nowMs() + 30000);

  // The counts were per interval: the next interval has no volume, so nothing more happens.
  tick(detector);
  EXPECT_EQ(detector.ejectionsTotal(Kind::SuccessRate), 1u);
}

TEST_F(OutlierDetectorTest, SuccessRateNeedsMinimumHosts) {
  HostVector hosts = makeHosts(5);
  config::OutlierDetection config = baseConfig();
  config.consecutive_5xx = 0;
  config.success_rate = config::OutlierSuccessRate{5, 10, 1000};
  OutlierDetector detector(config, hosts, time_);
  for (size_t h = 0; h < 4; ++h) {  // only 4 hosts with volume
    for (int i = 0; i < 10; ++i) {
      detector.reportStatus(*hosts[h], h == 3 ? 500 : 200);
    }
  }
  tick(detector);
  EXPECT_EQ(detector.ejectionsActive(), 0u);
  EXPECT_EQ(detector.detected(Kind::SuccessRate), 0u);
}

TEST_F(OutlierDetectorTest, FailurePercentageEjectsWorstFirstWithinTheLimit) {
  HostVector hosts = makeHosts(4);
  config::OutlierDetection config = baseConfig();
  config.consecutive_5xx = 0;
  config.consecutive_local_origin_failure = 0;
  config.max_ejection_percent = 25;  // one host of four
  config.failure_percentage = config::OutlierFailurePercentage{50, 3, 10};
  OutlierDetector detector(config, hosts, time_);
  for (int i = 0; i < 10; ++i) {
    detector.reportStatus(*hosts[0], 200);
    detector.reportStatus(*hosts[1], i < 6 ? 500 : 200);  // 60%
    detector.reportStatus(*hosts[2], 200);
    if (i < 8) {
      detector.reportConnectFailure(*hosts[3]);  // 80%
    } else {
      detector.reportStatus(*hosts[3], 200);
    }
  }
  tick(detector);
  EXPECT_TRUE(hosts[3]->ejected());
  EXPECT_FALSE(hosts[1]->ejected());
  EXPECT_EQ(detector.detected(Kind::FailurePercentage), 2u);
  EXPECT_EQ(detector.ejectionsTotal(Kind::FailurePercentage), 1u);
  EXPECT_EQ(detector.ejectionsOverflow(), 1u);
}

TEST_F(OutlierDetectorTest, ConcurrentReportsEjectOnce) {
  HostVector hosts = makeHosts(3);
  config::OutlierDetection config = baseConfig();
  config.consecutive_5xx = 1000;
  OutlierDetector detector(config, hosts, time_);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        detector.reportStatus(*hosts[0], 500);
        detector.reportStatus(*hosts[1], 200);
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_TRUE(hosts[0]->ejected());
  EXPECT_FALSE(hosts[1]->ejected());
  EXPECT_EQ(detector.ejectionsTotal(Kind::Consecutive5xx), 1u);
  EXPECT_EQ(detector.ejectionsActive(), 1u);
}

TEST_F(OutlierDetectorTest, DestroyingTheDetectorReleasesItsHosts) {
  HostVector hosts = makeHosts(3);
  {
    OutlierDetector detector(baseConfig(), hosts, time_);
    for (int i = 0; i < 5; ++i) {
      detector.reportStatus(*hosts[0], 500);
    }
    ASSERT_TRUE(hosts[0]->ejected());
  }
  EXPECT_FALSE(hosts[0]->ejected());
}

TEST_F(OutlierDetectorTest, AHostSetUpdateKeepsTheStateOfHostsThatStay) {
  HostVector hosts = makeHosts(4);
  OutlierDetector detector(baseConfig(), hosts, time_);
  for (int i = 0; i < 5; ++i) {
    detector.reportStatus(*hosts[1], 500);
  }
  ASSERT_TRUE(hosts[1]->ejected());
  for (int i = 0; i < 4; ++i) {
    detector.reportStatus(*hosts[2], 500);  // one short of an ejection
  }
  // An endpoint update: host 3 leaves, a new host joins; 1 and 2 stay.
  HostVector next = {hosts[0], hosts[1], hosts[2], makeHosts(1)[0]};
  detector.updateHosts(next);
  EXPECT_TRUE(hosts[1]->ejected());
  EXPECT_EQ(detector.ejectionsActive(), 1u);
  EXPECT_EQ(detector.multiplier(*hosts[1]), 1u);
  detector.reportStatus(*hosts[2], 500);  // the streak carried over: the fifth ejects
  EXPECT_TRUE(hosts[2]->ejected());
  EXPECT_EQ(detector.ejectionsActive(), 2u);
}

TEST_F(OutlierDetectorTest, AHostThatLeavesIsReleasedAndJudgedNoMore) {
  HostVector hosts = makeHosts(3);
  OutlierDetector detector(baseConfig(), hosts, time_);
  for (int i = 0; i < 5; ++i) {
    detector.reportStatus(*hosts[0], 500);
  }
  ASSERT_TRUE(hosts[0]->ejected());
  detector.updateHosts({hosts[1], hosts[2]});
  EXPECT_FALSE(hosts[0]->ejected());
  EXPECT_EQ(detector.ejectionsActive(), 0u);
  EXPECT_EQ(detector.maxEjected(), 1u);  // 2 hosts at 100%: one may be out
  // A late answer from an attempt that started before the update ejects nothing.
  for (int i = 0; i < 10; ++i) {
    detector.reportStatus(*hosts[0], 500);
  }
  EXPECT_FALSE(hosts[0]->ejected());
  EXPECT_EQ(detector.ejectionsTotal(Kind::Consecutive5xx), 1u);
}

}  // namespace
}  // namespace strait::upstream
