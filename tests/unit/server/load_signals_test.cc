// The event-loop lag and CPU meters on made-up clocks, and ProcessSignalsImpl's storage.

#include "proxy/server/load_signals.h"

#include <gtest/gtest.h>

#include "proxy/server/process_signals.h"

namespace strait::server {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

const MonotonicTime kT0{std::chrono::seconds(100)};

TEST(LagMeterTest, RisesAtOnceAndFadesByHalves) {
  LagMeter meter;
  EXPECT_EQ(meter.onTick(kT0, kT0 + microseconds(200)), microseconds(200));
  EXPECT_EQ(meter.onTick(kT0, kT0 + milliseconds(80)), milliseconds(80));  // a stall: at once
  EXPECT_EQ(meter.onTick(kT0, kT0), milliseconds(40));
  EXPECT_EQ(meter.onTick(kT0, kT0), milliseconds(20));
  EXPECT_EQ(meter.onTick(kT0, kT0 - milliseconds(1)), milliseconds(10));  // early counts as 0
}

TEST(CpuMeterTest, UtilisationOfTheWorkerCores) {
  CpuMeter meter;
  EXPECT_FALSE(meter.onSample(milliseconds(500), kT0, 2).has_value());  // no period yet
  // 100ms of wall time on 2 cores, 150ms of CPU: 75%.
  std::optional<double> u = meter.onSample(milliseconds(650), kT0 + milliseconds(100), 2);
  ASSERT_TRUE(u.has_value());
  EXPECT_DOUBLE_EQ(*u, 0.75);
  EXPECT_FALSE(meter.onSample(milliseconds(700), kT0 + milliseconds(100), 2).has_value());
  u = meter.onSample(milliseconds(700), kT0 + milliseconds(200), 1);
  EXPECT_DOUBLE_EQ(*u, 0.0);
}

TEST(ProcessSignalsImplTest, StoresLagPerWorkerAndCpu) {
  ProcessSignalsImpl signals;
  EXPECT_FALSE(signals.cpuUtilisation().has_value());
  signals.setCpuUtilisation(0.4);
  EXPECT_DOUBLE_EQ(*signals.cpuUtilisation(), 0.4);
  signals.setEventLoopLag(1, microseconds(1234));
  EXPECT_EQ(signals.eventLoopLag(1), microseconds(1234));
  EXPECT_EQ(signals.eventLoopLag(0), microseconds(0));
  signals.setEventLoopLag(ProcessSignalsImpl::kMaxWorkers, microseconds(5));
  EXPECT_EQ(signals.eventLoopLag(ProcessSignalsImpl::kMaxWorkers), microseconds(0));
}

}  // namespace
}  // namespace strait::server
