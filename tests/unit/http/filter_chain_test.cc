// The filter chain's iteration rules (strait/http/filter.h) with scripted filters and a recording
// owner: order both ways, StopIteration and continueDecoding(), local replies and resets ending
// the chain, held response data injected later, a held response head (StopIteration in
// encodeHeaders and continueEncoding) with the body held behind it, onDestroy exactly once.

#include "proxy/http/filter_chain.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "proxy/event/dispatcher_impl.h"
#include "tests/mocks/recording_owner.h"

namespace strait::http {
namespace {

// Logs a local reply with its header count, response data with its bytes and a continued head
// with the values the filters added, as the expectations below read them.
class ChainOwner : public strait::testing::RecordingOwner {
 public:
  ChainOwner(event::Dispatcher& dispatcher, const TimeSource& time, RandomGenerator& random,
             stats::Store& store)
      : RecordingOwner(dispatcher, time, random, store) {
    principal = "spiffe://example.org/web";
  }

  // http::FilterChainOwner
  void onFilterLocalReply(uint16_t status, std::string_view body, std::string_view flag,
                          const std::vector<HeaderEntry>& headers) override {
    log.push_back("reply " + std::to_string(status) + " " + std::string(body) + " " +
                  std::string(flag) + " headers=" + std::to_string(headers.size()));
  }
  void onEncodedData(buffer::Buffer& data, bool end_stream) override {
    log.push_back("out " + data.toString() + (end_stream ? " end" : ""));
  }
  void onEncodeHeadersContinued(ResponseHeaders& headers, bool end_stream) override {
    std::string seen;
    for (const auto& h : headers.headers.entries()) {
      seen += " " + h.value;
    }
    log.push_back("head " + std::to_string(headers.status) + seen + (end_stream ? " end" : ""));
  }
};

// A filter whose every callback is scripted by the test and logged under its name.
class ScriptedFilter : public StreamFilter {
 public:
  ScriptedFilter(std::string name, std::vector<std::string>& log) : name_(std::move(name)), log_(log) {}

  void setCallbacks(StreamFilterCallbacks& callbacks) override { callbacks_ = &callbacks; }
  FilterStatus decodeHeaders(RequestHeaders&, bool end_stream) override {
    log_.push_back(name_ + " decode" + (end_stream ? " end" : ""));
    return on_decode ? on_decode(*callbacks_) : FilterStatus::Continue;
  }
  FilterStatus encodeHeaders(ResponseHeaders& headers, bool) override {
    log_.push_back(name_ + " encode headers");
    headers.headers.add("x-seen-by", name_);
    return on_headers ? on_headers(*callbacks_) : FilterStatus::Continue;
  }
  FilterStatus encodeData(buffer::Buffer& data, bool end_stream) override {
    log_.push_back(name_ + " data " + data.toString() + (end_stream ? " end" : ""));
    return on_data ? on_data(*callbacks_, data, end_stream) : FilterStatus::Continue;
  }
  void onDestroy() override { log_.push_back(name_ + " destroy"); }

  std::function<FilterStatus(StreamFilterCallbacks&)> on_decode;
  std::function<FilterStatus(StreamFilterCallbacks&)> on_headers;
  std::function<FilterStatus(StreamFilterCallbacks&, buffer::Buffer&, bool)> on_data;
  StreamFilterCallbacks* callbacks_ = nullptr;

 private:
  std::string name_;
  std::vector<std::string>& log_;
};

// Hands out pre-built filters (one stream per test), so the test can script and reach them.
class HandOutFactory : public FilterFactory {
 public:
  explicit HandOutFactory(ScriptedFilter* filter) : filter_(filter) {}
  StreamFilterPtr createFilter() const override { return StreamFilterPtr(filter_); }

 private:
  ScriptedFilter* filter_;
};

class FilterChainTest : public ::testing::Test {
 protected:
  ScriptedFilter* add(const std::string& name) {
    auto* filter = new ScriptedFilter(name, owner.log);
    factories.push_back(std::make_shared<HandOutFactory>(filter));
    return filter;
  }
  FilterChain& build() {
    chain = std::make_unique<FilterChain>(owner, factories);
    return *chain;
  }

  RealTimeSource time_;
  event::DispatcherImpl dispatcher_{time_};
  DefaultRandomGenerator random_{1};
  stats::Store store_{1};
  ChainOwner owner{dispatcher_, time_, random_, store_};
  std::vector<FilterFactoryPtr> factories;
  std::unique_ptr<FilterChain> chain;
};

TEST_F(FilterChainTest, RequestsRunInListOrderResponsesInReverse) {
  add("a");
  add("b");
  FilterChain& c = build();
  c.decodeHeaders(owner.request, true);
  ResponseHeaders response;
  c.encodeHeaders(response, false);
  buffer::Buffer body;
  body.add("xyz");
  c.encodeData(body, true);
  EXPECT_EQ(owner.log, (std::vector<std::string>{
                           "a decode end", "b decode end", "router", "b encode headers",
                           "a encode headers", "b data xyz end", "a data xyz end", "out xyz end"}));
  ASSERT_EQ(response.headers.size(), 2u);
  EXPECT_EQ(response.headers.entries()[0].value, "b");
}

TEST_F(FilterChainTest, StopIterationHoldsTheRequestUntilContinueDecoding) {
  ScriptedFilter* a = add("a");
  add("b");
  a->on_decode = [](StreamFilterCallbacks&) { return FilterStatus::StopIteration; };
  FilterChain& c = build();
  c.decodeHeaders(owner.request, false);
  EXPECT_EQ(owner.log, (std::vector<std::string>{"a decode"}));
  EXPECT_TRUE(c.decodeStopped());
  a->callbacks_->continueDecoding();
  EXPECT_EQ(owner.log, (std::vector<std::string>{"a decode", "b decode", "router"}));
  EXPECT_FALSE(c.decodeStopped());
  // A second continue (a late timer) does nothing.
  a->callbacks_->continueDecoding();
  EXPECT_EQ(owner.log.size(), 3u);
}

TEST_F(FilterChainTest, OnlyTheStoppedFilterCanResume) {
  ScriptedFilter* a = add("a");
  ScriptedFilter* b = add("b");
  b->on_decode = [](StreamFilterCallbacks&) { return FilterStatus::StopIteration; };
  FilterChain& c = build();
  c.decodeHeaders(owner.request, true);
  a->callbacks_->continueDecoding();  // not the one holding the request
  EXPECT_EQ(owner.log, (std::vector<std::string>{"a decode end", "b decode end"}));
  b->callbacks_->continueDecoding();
  EXPECT_EQ(owner.log.back(), "router");
  (void)c;
}

TEST_F(FilterChainTest, ContinueFromInsideDecodeHeadersActsAsContinue) {
  ScriptedFilter* a = add("a");
  add("b");
  a->on_decode = [](StreamFilterCallbacks& cb) {
    cb.continueDecoding();  // e.g. a queue slot that was free at once
    return FilterStatus::StopIteration;
  };
  build().decodeHeaders(owner.request, true);
  EXPECT_EQ(owner.log, (std::vector<std::string>{"a decode end", "b decode end", "router"}));
}

TEST_F(FilterChainTest, LocalReplyEndsTheChainAndLaterFiltersNeverRun) {
  ScriptedFilter* a = add("a");
  add("b");
  a->on_decode = [](StreamFilterCallbacks& cb) {
    cb.sendLocalReply(403, "denied", "UA", {{"x-reason", "no-rule"}});
    return FilterStatus::StopIteration;
  };
  FilterChain& c = build();
  c.decodeHeaders(owner.request, true);
  EXPECT_EQ(owner.log,
            (std::vector<std::string>{"a decode end", "reply 403 denied UA headers=1"}));
  // Nothing acts after the end: no second reply, no resume, no flags.
  a->callbacks_->sendLocalReply(500, "again", "X");
  a->callbacks_->continueDecoding();
  a->callbacks_->addResponseFlag("FI");
  EXPECT_EQ(owner.log.size(), 2u);
  c.destroy();
  c.destroy();
  EXPECT_EQ(owner.log, (std::vector<std::string>{"a decode end", "reply 403 denied UA headers=1",
                                                 "a destroy", "b destroy"}));
}

TEST_F(FilterChainTest, ResetEndsTheChain) {
  ScriptedFilter* a = add("a");
  add("b");
  a->on_decode = [](StreamFilterCallbacks& cb) {
    cb.resetStream("FI");
    return FilterStatus::Continue;  // ignored: the stream is gone
  };
  build().decodeHeaders(owner.request, true);
  EXPECT_EQ(owner.log, (std::vector<std::string>{"a decode end", "reset FI"}));
}

TEST_F(FilterChainTest, HeldResponseDataIsInjectedPastTheHoldingFilter) {
  add("a");
  ScriptedFilter* b = add("b");
  add("c");
  buffer::Buffer held;
  b->on_data = [&](StreamFilterCallbacks& cb, buffer::Buffer& data, bool) {
    held.move(data);
    cb.setUpstreamReadDisabled(true);
    return FilterStatus::StopIteration;
  };
  FilterChain& c = build();
  buffer::Buffer body;
  body.add("slow");
  c.encodeData(body, true);
  EXPECT_EQ(owner.log, (std::vector<std::string>{"c data slow end", "b data slow end",
                                                 "upstream off"}));
  // Later (a pacing timer): b passes its bytes on; only a sees them, then the codec.
  owner.log.clear();
  b->callbacks_->setUpstreamReadDisabled(false);
  b->callbacks_->injectEncodedData(held, true);
  EXPECT_EQ(owner.log,
            (std::vector<std::string>{"upstream on", "a data slow end", "out slow end"}));
}

TEST_F(FilterChainTest, StopInEncodeHeadersHoldsTheHeadAndTheBodyUntilContinueEncoding) {
  add("a");
  ScriptedFilter* b = add("b");
  add("c");
  bool could_hold = false;
  b->on_headers = [&](StreamFilterCallbacks& cb) {
    could_hold = cb.canHoldResponseHeaders();
    return FilterStatus::StopIteration;
  };
  FilterChain& c = build();
  {
    ResponseHeaders response;  // the owner's head goes away: the chain holds a copy
    response.status = 201;
    EXPECT_FALSE(c.encodeHeaders(response, false, true));
  }
  EXPECT_TRUE(could_hold);
  EXPECT_TRUE(c.encodeStopped());
  buffer::Buffer body;
  body.add("xyz");
  c.encodeData(body, false);
  buffer::Buffer end;
  c.encodeData(end, true);
  EXPECT_EQ(owner.log, (std::vector<std::string>{"c encode headers", "b encode headers"}));
  owner.log.clear();
  b->callbacks_->continueEncoding();
  EXPECT_FALSE(c.encodeStopped());
  EXPECT_EQ(owner.log,
            (std::vector<std::string>{"a encode headers", "head 201 c b a", "c data xyz end",
                                      "b data xyz end", "a data xyz end", "out xyz end"}));
  // A second continue (a late timer) does nothing.
  owner.log.clear();
  b->callbacks_->continueEncoding();
  EXPECT_TRUE(owner.log.empty());
}

TEST_F(FilterChainTest, OnlyTheHoldingFilterReleasesTheHeadAndAnEarlierOneMayHoldItAgain) {
  ScriptedFilter* a = add("a");
  ScriptedFilter* b = add("b");
  a->on_headers = [](StreamFilterCallbacks&) { return FilterStatus::StopIteration; };
  b->on_headers = [](StreamFilterCallbacks&) { return FilterStatus::StopIteration; };
  FilterChain& c = build();
  ResponseHeaders response;
  EXPECT_FALSE(c.encodeHeaders(response, true, true));
  a->callbacks_->continueEncoding();  // not the one holding the head
  EXPECT_EQ(owner.log, (std::vector<std::string>{"b encode headers"}));
  b->callbacks_->continueEncoding();  // a holds it in turn
  EXPECT_EQ(owner.log, (std::vector<std::string>{"b encode headers", "a encode headers"}));
  a->callbacks_->continueEncoding();
  EXPECT_EQ(owner.log.back(), "head 200 b a end");
}

TEST_F(FilterChainTest, ALocalReplyHeadCannotBeHeld) {
  ScriptedFilter* a = add("a");
  bool could_hold = true;
  a->on_headers = [&](StreamFilterCallbacks& cb) {
    could_hold = cb.canHoldResponseHeaders();
    return FilterStatus::StopIteration;
  };
  FilterChain& c = build();
  ResponseHeaders response;
  EXPECT_TRUE(c.encodeHeaders(response, false));  // holdable defaults to false
  EXPECT_FALSE(could_hold);
  EXPECT_FALSE(c.encodeStopped());
  buffer::Buffer body;
  body.add("now");
  c.encodeData(body, true);
  EXPECT_EQ(owner.log.back(), "out now end");
}

TEST_F(FilterChainTest, ContinueEncodingFromInsideEncodeHeadersActsAsContinue) {
  ScriptedFilter* a = add("a");
  a->on_headers = [](StreamFilterCallbacks& cb) {
    cb.continueEncoding();
    return FilterStatus::StopIteration;
  };
  ResponseHeaders response;
  EXPECT_TRUE(build().encodeHeaders(response, false, true));
}

TEST_F(FilterChainTest, AHeldBodyOverTheWatermarkPausesTheUpstream) {
  ScriptedFilter* a = add("a");
  a->on_headers = [](StreamFilterCallbacks&) { return FilterStatus::StopIteration; };
  FilterChain& c = build();
  ResponseHeaders response;
  c.encodeHeaders(response, false, true);
  buffer::Buffer body;
  body.add(std::string(FilterChain::kHeldBodyHighWatermark, 'x'));
  c.encodeData(body, false);
  EXPECT_EQ(owner.log, (std::vector<std::string>{"a encode headers"}));
  buffer::Buffer more;
  more.add("y");
  c.encodeData(more, false);
  EXPECT_EQ(owner.log.back(), "upstream off");
  owner.log.clear();
  a->callbacks_->continueEncoding();
  ASSERT_EQ(owner.log.size(), 4u);
  EXPECT_EQ(owner.log[0], "head 200 a");
  EXPECT_EQ(owner.log[1], "upstream on");
  EXPECT_EQ(owner.log[3], "out " + std::string(FilterChain::kHeldBodyHighWatermark, 'x') + "y");
}

TEST_F(FilterChainTest, DestroyWhileTheHeadIsHeldDropsItAndTheBody) {
  ScriptedFilter* a = add("a");
  a->on_headers = [](StreamFilterCallbacks&) { return FilterStatus::StopIteration; };
  FilterChain& c = build();
  ResponseHeaders response;
  c.encodeHeaders(response, false, true);
  buffer::Buffer body;
  body.add("lost");
  c.encodeData(body, true);
  c.destroy();
  a->callbacks_->continueEncoding();
  EXPECT_EQ(owner.log, (std::vector<std::string>{"a encode headers", "a destroy"}));
}

TEST_F(FilterChainTest, DestroyedChainDropsLateInjections) {
  ScriptedFilter* a = add("a");
  FilterChain& c = build();
  c.destroy();
  buffer::Buffer late;
  late.add("late");
  a->callbacks_->injectEncodedData(late, true);
  EXPECT_EQ(owner.log, (std::vector<std::string>{"a destroy"}));
}

TEST_F(FilterChainTest, DestructionCallsOnDestroyOnce) {
  add("a");
  build();
  chain.reset();
  EXPECT_EQ(owner.log, (std::vector<std::string>{"a destroy"}));
}

TEST_F(FilterChainTest, FiltersSeeTheStreamContext) {
  ScriptedFilter* a = add("a");
  std::string seen;
  a->on_decode = [&](StreamFilterCallbacks& cb) {
    seen = std::string(cb.clusterName()) + " " + cb.principal();
    return FilterStatus::Continue;
  };
  build().decodeHeaders(owner.request, true);
  EXPECT_EQ(seen, "backend spiffe://example.org/web");
}

}  // namespace
}  // namespace strait::http
