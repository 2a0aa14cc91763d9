#pragma once

// A process context for filter factories built in tests (FilterFactoryContext::process): a fake
// main dispatcher on a simulated clock, scripted randomness, and signals the test sets.

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "strait/http/filter.h"
#include "tests/mocks/fake_dispatcher.h"
#include "tests/mocks/scripted_random.h"
#include "tests/mocks/simulated_time.h"

namespace strait::testing {

class TestSignals : public http::ProcessSignals {
 public:
  bool draining() const override { return is_draining; }
  uint32_t workerCount() const override { return workers; }
  std::chrono::microseconds eventLoopLag(uint32_t worker) const override {
    return worker < lag.size() ? lag[worker] : std::chrono::microseconds(0);
  }
  std::optional<double> cpuUtilisation() const override { return cpu; }

  bool is_draining = false;
  uint32_t workers = 1;
  std::vector<std::chrono::microseconds> lag;  // by worker
  std::optional<double> cpu;
};

struct TestProcess {
  SimulatedTimeSource time;
  FakeDispatcher dispatcher{time};
  ScriptedRandom random;
  TestSignals signals;
  http::ProcessContext context{dispatcher, time, random, signals};
};

}  // namespace strait::testing
