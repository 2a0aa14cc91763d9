#pragma once

// A FilterChainOwner that logs what the chain hands back to it and serves the chain the
// dispatcher, clock, randomness and stats shard the test gives it.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/filter_chain.h"
#include "strait/common/random.h"
#include "strait/common/time.h"
#include "strait/event/dispatcher.h"
#include "strait/stats/stats.h"

namespace strait::testing {

// Logs one line per callback of the chain. How a local reply, response data and a continued
// response head read in the log is each test's choice (what it asserts differs), so those three
// stay to a subclass.
class RecordingOwner : public http::FilterChainOwner {
 public:
  RecordingOwner(event::Dispatcher& dispatcher, const TimeSource& time, RandomGenerator& random,
                 stats::Store& store)
      : dispatcher_(dispatcher), time_(time), random_(random), store_(store) {}

  // http::FilterChainOwner
  void onDecodeFiltersDone() override { log.push_back("router"); }
  void onFilterReset(std::string_view flag) override { log.push_back("reset " + std::string(flag)); }
  void onFilterFlag(std::string_view flag) override { log.push_back("flag " + std::string(flag)); }
  void onFilterUpstreamReadDisabled(bool disabled) override {
    log.push_back(disabled ? "upstream off" : "upstream on");
  }
  const http::RequestHeaders& filterRequestHeaders() const override { return request; }
  const config::Route* filterRoute() const override { return route; }
  std::string_view filterClusterName() const override { return "backend"; }
  const std::string& filterPrincipal() const override { return principal; }
  event::Dispatcher& filterDispatcher() override { return dispatcher_; }
  RandomGenerator& filterRandom() override { return random_; }
  const TimeSource& filterTimeSource() const override { return time_; }
  stats::Shard& filterStatsShard() override { return store_.shard(0); }
  uint32_t filterWorkerIndex() const override { return worker_index; }
  void onFilterOverloaded() override { overloaded = true; }

  // Whether any logged line starts with `prefix`.
  bool has(const std::string& prefix) const {
    return std::any_of(log.begin(), log.end(),
                       [&](const std::string& l) { return l.starts_with(prefix); });
  }

  std::vector<std::string> log;
  http::RequestHeaders request;
  std::string principal;
  const config::Route* route = nullptr;  // what filterRoute() answers
  uint32_t worker_index = 0;
  bool overloaded = false;  // a filter called markOverloaded() (the router would not hedge)

 private:
  event::Dispatcher& dispatcher_;
  const TimeSource& time_;
  RandomGenerator& random_;
  stats::Store& store_;
};

}  // namespace strait::testing
