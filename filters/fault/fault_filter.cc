#include "filters/fault/fault_filter.h"

#include <algorithm>
#include <optional>

#include "filters/common/http_attributes.h"
#include "filters/fault/token_bucket.h"

namespace strait::filters::fault {

namespace {

class FaultFilter : public http::StreamFilter {
 public:
  explicit FaultFilter(const FaultFactory& factory) : factory_(factory) {}

  void setCallbacks(http::StreamFilterCallbacks& callbacks) override { callbacks_ = &callbacks; }

  http::FilterStatus decodeHeaders(http::RequestHeaders& headers, bool) override {
    HttpRequestAttributes request(headers, callbacks_->principal());
    decision_ = factory_.decider().decide(request, callbacks_->random());
    const FaultStats& stats = factory_.stats();
    stats::Shard& shard = callbacks_->statsShard();
    if (decision_.overflowed) {
      shard.inc(stats.overflow);
    }
    if (!decision_.any()) {
      return http::FilterStatus::Continue;
    }
    if (decision_.dry_run) {
      shard.inc(stats.dry_run);
      return http::FilterStatus::Continue;
    }
    if (decision_.rate_limit) {
      shard.inc(stats.rate_limits);
      bucket_.emplace(TokenBucket::fromKbps(decision_.rate_limit_kbps,
                                            callbacks_->timeSource().monotonicTime()));
      callbacks_->addResponseFlag("FI");
    }
    if (decision_.delay) {
      shard.inc(stats.delays);
      callbacks_->addResponseFlag("FI");
      delay_timer_ = callbacks_->dispatcher().createTimer([this] { afterDelay(); });
      delay_timer_->enableTimer(decision_.delay_time);
      return http::FilterStatus::StopIteration;
    }
    if (decision_.abort) {
      abort();
      return http::FilterStatus::StopIteration;
    }
    return http::FilterStatus::Continue;
  }

  http::FilterStatus encodeHeaders(http::ResponseHeaders&, bool) override {
    // One hold per stream: a head that a later filter held comes back through here only once.
    if (!decision_.response_delay || decision_.dry_run || response_delay_timer_ != nullptr ||
        !callbacks_->canHoldResponseHeaders()) {
      return http::FilterStatus::Continue;
    }
    callbacks_->statsShard().inc(factory_.stats().response_delays);
    callbacks_->addResponseFlag("FI");
    response_delay_timer_ =
        callbacks_->dispatcher().createTimer([this] { callbacks_->continueEncoding(); });
    response_delay_timer_->enableTimer(decision_.response_delay_time);
    return http::FilterStatus::StopIteration;
  }

  http::FilterStatus encodeData(buffer::Buffer& data, bool end_stream) override {
    if (!bucket_.has_value()) {
      return http::FilterStatus::Continue;
    }
    held_.move(data);
    held_end_ = end_stream;
    if (pace_timer_ == nullptr || !pace_timer_->enabled()) {
      pump();
    }
    return http::FilterStatus::StopIteration;
  }

  void onDestroy() override {
    destroyed_ = true;
    delay_timer_.reset();
    response_delay_timer_.reset();
    pace_timer_.reset();
    factory_.decider().finish(decision_);
  }

 private:
  void afterDelay() {
    if (decision_.abort) {
      abort();
      return;
    }
    callbacks_->continueDecoding();
  }

  void abort() {
    const FaultStats& stats = factory_.stats();
    if (decision_.abort_reset) {
      callbacks_->statsShard().inc(stats.resets);
      callbacks_->resetStream("FI");
      return;
    }
    callbacks_->statsShard().inc(stats.aborts);
    callbacks_->sendLocalReply(decision_.abort_status, "fault filter abort", "FI");
  }

  // Passes on what the bucket allows now; re-arms the pacing timer for the rest.
  void pump() {
    MonotonicTime now = callbacks_->timeSource().monotonicTime();
    uint64_t allowed = bucket_->consume(held_.length(), now);
    bool last = held_end_ && allowed == held_.length();
    if (allowed > 0 || last) {
      buffer::Buffer out;
      out.move(held_, allowed);
      if (last) {
        bucket_.reset();  // nothing more to pace
        if (read_disabled_) {
          read_disabled_ = false;
          callbacks_->setUpstreamReadDisabled(false);
        }
        callbacks_->injectEncodedData(out, true);
        return;
      }
      callbacks_->injectEncodedData(out, false);
      if (destroyed_) {
        return;
      }
    }
    bool over = held_.length() > kRateLimitHighWatermark;
    if (over != read_disabled_) {
      read_disabled_ = over;
      callbacks_->setUpstreamReadDisabled(over);
    }
    if (!held_.empty()) {
      if (pace_timer_ == nullptr) {
        pace_timer_ = callbacks_->dispatcher().createTimer([this] { pump(); });
      }
      uint64_t want = std::min<uint64_t>(held_.length(), bucket_->capacity());
      std::chrono::milliseconds wait =
          std::max(std::chrono::milliseconds(1), bucket_->timeUntil(want, now));
      pace_timer_->enableTimer(wait);
    }
  }

  const FaultFactory& factory_;
  http::StreamFilterCallbacks* callbacks_ = nullptr;
  FaultDecision decision_;
  event::TimerPtr delay_timer_;
  event::TimerPtr response_delay_timer_;
  event::TimerPtr pace_timer_;
  std::optional<TokenBucket> bucket_;
  buffer::Buffer held_;
  bool held_end_ = false;
  bool read_disabled_ = false;
  bool destroyed_ = false;
};

}  // namespace

FaultFactory::FaultFactory(const FaultSettings& settings, http::FilterFactoryContext& context) {
  if (const auto* previous = dynamic_cast<const FaultFactory*>(context.previous)) {
    decider_ = previous->decider_;  // same block: the active-fault count carries over
  } else {
    decider_ = std::make_shared<FaultDecider>(settings.fault);
  }
  const stats::Labels labels{{"listener", context.listener}};
  auto counter = [&](const char* name, const char* help) {
    return context.store.counter(name, help, labels);
  };
  stats_.delays = counter("strait_dp_fault_delays_injected_total",
                          "Requests the fault filter delayed.");
  stats_.response_delays = counter("strait_dp_fault_response_delays_injected_total",
                                   "Responses whose head the fault filter held (response_delay).");
  stats_.aborts = counter("strait_dp_fault_aborts_injected_total",
                          "Requests the fault filter answered with an abort status.");
  stats_.resets = counter("strait_dp_fault_resets_injected_total",
                          "Requests the fault filter ended with a reset.");
  stats_.rate_limits = counter("strait_dp_fault_rate_limits_injected_total",
                               "Responses the fault filter slowed to response_rate_limit.");
  stats_.overflow = counter("strait_dp_fault_active_faults_overflow_total",
                            "Faults not injected because max_active_faults were in force.");
  stats_.dry_run = counter("strait_dp_fault_dry_run_total",
                           "Requests and connections that would have had a fault; none injected "
                           "(dry_run).");
  stats_.connection_resets = counter("strait_dp_fault_connection_resets_injected_total",
                                     "Accepted connections the fault filter reset at once.");
  stats_.connection_black_holes =
      counter("strait_dp_fault_connection_black_holes_injected_total",
              "Accepted connections the fault filter black-holed (read, never answered).");
  stats_.black_holes_active =
      context.store.gauge("strait_dp_fault_connection_black_holes_active",
                          "Black-holed connections still open.", labels);
}

const http::AcceptHook* FaultFactory::acceptHook() const {
  return decider_->config().connection.any() ? this : nullptr;
}

http::AcceptDecision FaultFactory::onAccept(RandomGenerator& random, stats::Shard& shard) const {
  ConnectionFaultDecision fault = decider_->decideConnection(random);
  http::AcceptDecision decision;
  if (!fault.reset && !fault.black_hole) {
    return decision;
  }
  if (fault.dry_run) {
    shard.inc(stats_.dry_run);
    return decision;
  }
  if (fault.reset) {
    shard.inc(stats_.connection_resets);
    decision.action = http::AcceptAction::Reset;
    return decision;
  }
  shard.inc(stats_.connection_black_holes);
  decision.action = http::AcceptAction::BlackHole;
  decision.held_gauge = stats_.black_holes_active;
  return decision;
}

http::StreamFilterPtr FaultFactory::createFilter() const {
  return std::make_unique<FaultFilter>(*this);
}

void registerFaultFilter() {
  registerFaultParser();
  http::registerFilterFactory(
      "fault", [](const config::FilterSettings& settings, http::FilterFactoryContext& context)
                   -> http::FilterFactoryPtr {
        return std::make_shared<FaultFactory>(static_cast<const FaultSettings&>(settings), context);
      });
}

}  // namespace strait::filters::fault
