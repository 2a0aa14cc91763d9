#pragma once

// Runs real filters through http::FilterChain with a recording owner, a simulated clock, a
// dispatcher whose timers fire only when the test advances time, and a scripted RandomGenerator.

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proxy/http/filter_chain.h"
#include "tests/mocks/fake_dispatcher.h"
#include "tests/mocks/recording_owner.h"
#include "tests/mocks/scripted_random.h"
#include "tests/mocks/simulated_time.h"

namespace strait::filters::testing {

using FakeDispatcher = strait::testing::FakeDispatcher;

// Logs a local reply with its headers, and response data and a continued head with the
// simulated time they left at; counts the bytes out and whether the response ended.
class TimedOwner : public strait::testing::RecordingOwner {
 public:
  TimedOwner(FakeDispatcher& dispatcher, strait::testing::SimulatedTimeSource& time,
             RandomGenerator& random, stats::Store& store)
      : RecordingOwner(dispatcher, time, random, store), time_(time) {}

  // http::FilterChainOwner
  void onFilterLocalReply(uint16_t status, std::string_view body, std::string_view flag,
                          const std::vector<http::HeaderEntry>& headers) override {
    std::string line = "reply " + std::to_string(status) + " " + std::string(body) + " " +
                       std::string(flag);
    for (const auto& h : headers) {
      line += " " + h.name + "=" + h.value;
    }
    log.push_back(line);
  }
  void onEncodedData(buffer::Buffer& data, bool end_stream) override {
    out_bytes += data.length();
    log.push_back("out " + std::to_string(data.length()) + (end_stream ? " end" : "") + " @" +
                  std::to_string(time_.nowMs()));
    ended = ended || end_stream;
  }
  void onEncodeHeadersContinued(http::ResponseHeaders& headers, bool end_stream) override {
    log.push_back("head " + std::to_string(headers.status) + (end_stream ? " end" : "") + " @" +
                  std::to_string(time_.nowMs()));
  }

  uint64_t out_bytes = 0;
  bool ended = false;

 private:
  const strait::testing::SimulatedTimeSource& time_;
};

// One stream: an owner and its chain over the given factories.
struct Stream {
  Stream(FakeDispatcher& d, strait::testing::SimulatedTimeSource& t, RandomGenerator& r,
         stats::Store& s, const std::vector<http::FilterFactoryPtr>& factories,
         std::string path = "/")
      : owner(d, t, r, s), chain(owner, factories) {
    owner.request.method = "GET";
    owner.request.path = std::move(path);
    owner.request.authority = "api";
  }
  void start() { chain.decodeHeaders(owner.request, true); }
  ~Stream() { chain.destroy(); }

  TimedOwner owner;
  http::FilterChain chain;
};

}  // namespace strait::filters::testing
