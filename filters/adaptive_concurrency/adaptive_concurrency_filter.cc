#include "filters/adaptive_concurrency/adaptive_concurrency_filter.h"

#include <cmath>
#include <string>

#include "filters/common/http_attributes.h"

namespace strait::filters::adaptive_concurrency {

namespace {

class AdaptiveConcurrencyFilter;

// What the controller keeps for a queued request: only posts to the stream's worker.
class Waiter : public QueueWaiter {
 public:
  Waiter(event::Dispatcher& dispatcher, std::shared_ptr<bool> alive,
         AdaptiveConcurrencyFilter* filter)
      : dispatcher_(dispatcher), alive_(std::move(alive)), filter_(filter) {}
  void onAdmitted(uint64_t epoch) override;
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }

 private:
  event::Dispatcher& dispatcher_;
  std::shared_ptr<bool> alive_;
  AdaptiveConcurrencyFilter* filter_;
  std::atomic<uint64_t> epoch_{0};
};

class AdaptiveConcurrencyFilter : public http::StreamFilter,
                                  public ConcurrencyController::WaiterSource {
 public:
  explicit AdaptiveConcurrencyFilter(const AdaptiveConcurrencyFactory& factory)
      : factory_(factory), controller_(*factory.controller()), counters_(factory.counters()) {}

  void setCallbacks(http::StreamFilterCallbacks& callbacks) override { callbacks_ = &callbacks; }

  http::FilterStatus decodeHeaders(http::RequestHeaders& headers, bool) override {
    stats::Shard& shard = callbacks_->statsShard();
    if (factory_.exclude() != nullptr &&
        factory_.exclude()->matches(HttpRequestAttributes(headers, callbacks_->principal()))) {
      shard.inc(counters_.excluded);
      return http::FilterStatus::Continue;
    }
    const MonotonicTime now = callbacks_->timeSource().monotonicTime();
    const Admission admission = controller_.admit(now, *this);
    switch (admission.kind) {
      case Admission::Kind::Admitted:
        if (admission.dry_run_would_refuse) {
          shard.inc(counters_.dry_run_refused);
        }
        admitted(admission.epoch, now, std::chrono::microseconds(0));
        return http::FilterStatus::Continue;
      case Admission::Kind::Queued:
        state_ = State::Queued;
        queued_at_ = now;
        probe_queued_ = admission.probing;
        shard.inc(admission.probing ? counters_.queued_probe : counters_.queued_steady);
        shard.add(counters_.waiting, 1);
        timer_ = callbacks_->dispatcher().createTimer([this] { onQueueDeadline(); });
        timer_->enableTimer(admission.queue_timeout);
        return http::FilterStatus::StopIteration;
      case Admission::Kind::Refused:
        state_ = State::Done;
        if (admission.refusal == Refusal::QueueFull) {
          shard.inc(counters_.refused_queue_full);
          refuse("queue full");
        } else {
          shard.inc(counters_.refused_over_limit);
          refuse("over limit");
        }
        return http::FilterStatus::StopIteration;
    }
    return http::FilterStatus::Continue;
  }

  http::FilterStatus encodeHeaders(http::ResponseHeaders&, bool end_stream) override {
    if (state_ == State::Admitted) {
      response_started_ = true;
      if (end_stream) {
        sample();
      }
    }
    return http::FilterStatus::Continue;
  }

  http::FilterStatus encodeData(buffer::Buffer&, bool end_stream) override {
    if (state_ == State::Admitted && end_stream) {
      sample();
    }
    return http::FilterStatus::Continue;
  }

  void onDestroy() override {
    if (alive_ != nullptr) {
      *alive_ = false;
    }
    timer_.reset();
    stats::Shard& shard = callbacks_->statsShard();
    if (state_ == State::Queued) {
      shard.sub(counters_.waiting, 1);
      if (!controller_.cancel(*waiter_)) {
        controller_.release();  // a slot was given to us meanwhile: give it back
      }
    } else if (state_ == State::Admitted) {
      shard.sub(counters_.in_flight, 1);
      shard.inc(response_started_ ? counters_.dropped_incomplete : counters_.dropped_no_response);
      controller_.release();
    }
    state_ = State::Done;
  }

  // ConcurrencyController::WaiterSource: only for a request that queues.
  std::shared_ptr<QueueWaiter> makeWaiter() override {
    alive_ = std::make_shared<bool>(true);
    waiter_ = std::make_shared<Waiter>(callbacks_->dispatcher(), alive_, this);
    return waiter_;
  }

  // On this stream's worker, posted by the waiter.
  void admittedFromQueue() {
    if (state_ != State::Queued) {
      return;
    }
    leaveQueue();
    const MonotonicTime now = callbacks_->timeSource().monotonicTime();
    admitted(waiter_->epoch(), now,
             std::chrono::duration_cast<std::chrono::microseconds>(now - queued_at_));
    callbacks_->continueDecoding();
  }

 private:
  enum class State { None, Queued, Admitted, Done };

  void admitted(uint64_t epoch, MonotonicTime now, std::chrono::microseconds queue_delay) {
    state_ = State::Admitted;
    epoch_ = epoch;
    started_ = now;
    stats::Shard& shard = callbacks_->statsShard();
    shard.inc(counters_.admitted);
    shard.add(counters_.in_flight, 1);
    // A request that had to queue, or one let in while the limit is pinned at its floor, meets
    // an overloaded upstream: the router sends it no hedge (dry_run changes nothing).
    if (controller_.config().mode == FilterMode::Enforce &&
        (queue_delay.count() > 0 || controller_.atFloor())) {
      callbacks_->markOverloaded();
    }
    if (const auto& signal = factory_.signal()) {
      signal->recordQueueDelay(queue_delay);
    }
  }

  void leaveQueue() {
    timer_.reset();
    callbacks_->statsShard().sub(counters_.waiting, 1);
  }

  void onQueueDeadline() {
    if (state_ != State::Queued) {
      return;
    }
    leaveQueue();
    if (controller_.cancel(*waiter_)) {
      state_ = State::Done;
      callbacks_->statsShard().inc(counters_.refused_queue_timeout);
      refuse(probe_queued_ ? "queue timeout (minRTT probe)" : "queue timeout");
      return;
    }
    // Admitted just now; the posted callback will find us admitted.
    const MonotonicTime now = callbacks_->timeSource().monotonicTime();
    admitted(waiter_->epoch(), now,
             std::chrono::duration_cast<std::chrono::microseconds>(now - queued_at_));
    callbacks_->continueDecoding();
  }

  void sample() {
    const MonotonicTime now = callbacks_->timeSource().monotonicTime();
    stats::Shard& shard = callbacks_->statsShard();
    state_ = State::Done;
    shard.sub(counters_.in_flight, 1);
    const bool fresh = controller_.complete(
        epoch_, std::chrono::duration_cast<std::chrono::microseconds>(now - started_), now);
    shard.inc(fresh ? counters_.samples : counters_.dropped_stale);
  }

  void refuse(const char* why) {
    const ControllerState s = controller_.state();
    callbacks_->sendLocalReply(503,
                               "adaptive_concurrency " + std::string(why) + " (limit " +
                                   std::to_string(s.limit) + ", in flight " +
                                   std::to_string(s.in_flight) + ")",
                               "LS", {{"x-strait-overloaded", "true"}});
  }

  const AdaptiveConcurrencyFactory& factory_;
  ConcurrencyController& controller_;
  const Counters& counters_;
  http::StreamFilterCallbacks* callbacks_ = nullptr;
  State state_ = State::None;
  uint64_t epoch_ = 0;
  MonotonicTime started_{};
  MonotonicTime queued_at_{};
  bool response_started_ = false;
  bool probe_queued_ = false;
  std::shared_ptr<bool> alive_;
  std::shared_ptr<Waiter> waiter_;
  event::TimerPtr timer_;
};

void Waiter::onAdmitted(uint64_t epoch) {
  epoch_.store(epoch, std::memory_order_release);
  dispatcher_.post([alive = alive_, filter = filter_] {
    if (*alive) {
      filter->admittedFromQueue();
    }
    // Gone: its onDestroy() found the slot given to it and released it.
  });
}

}  // namespace

AdaptiveConcurrencyFactory::AdaptiveConcurrencyFactory(const AdaptiveConcurrencySettings& settings,
                                                       http::FilterFactoryContext& context)
    : signal_(concurrencySignalFor(context.listener)) {
  const AdaptiveConcurrencyConfig& config = settings.adaptive;
  if (config.exclude.has_value()) {
    exclude_ = std::make_unique<RequestMatcher>(*config.exclude);
  }
  const stats::Labels labels{{"listener", context.listener}};
  auto counter = [&](const char* name, const char* help, stats::Labels extra = {}) {
    stats::Labels all = labels;
    all.insert(all.end(), extra.begin(), extra.end());
    return context.store.counter(name, help, all);
  };
  auto gauge = [&](const char* name, const char* help) {
    return context.store.gauge(name, help, labels);
  };
  Counters& c = counters_;
  c.admitted = counter("strait_dp_adaptive_concurrency_admitted_total",
                       "Requests given a slot under the adaptive limit (at once or queued).");
  const char* refused_help =
      "Requests refused (503, flag LS) by adaptive concurrency, by cause.";
  c.refused_over_limit = counter("strait_dp_adaptive_concurrency_refused_total", refused_help,
                                 {{"cause", "over_limit"}});
  c.refused_queue_full = counter("strait_dp_adaptive_concurrency_refused_total", refused_help,
                                 {{"cause", "queue_full"}});
  c.refused_queue_timeout = counter("strait_dp_adaptive_concurrency_refused_total", refused_help,
                                    {{"cause", "queue_timeout"}});
  const char* queued_help =
      "Requests that waited for a slot, by phase (probe: while minRTT was measured).";
  c.queued_steady = counter("strait_dp_adaptive_concurrency_queued_total", queued_help,
                            {{"phase", "steady"}});
  c.queued_probe = counter("strait_dp_adaptive_concurrency_queued_total", queued_help,
                           {{"phase", "probe"}});
  c.dry_run_refused = counter("strait_dp_adaptive_concurrency_dry_run_refused_total",
                              "Requests over the limit that dry_run let through.");
  c.excluded = counter("strait_dp_adaptive_concurrency_excluded_total",
                       "Requests matching `exclude`: neither limited nor sampled.");
  c.samples = counter("strait_dp_adaptive_concurrency_samples_total",
                      "Round-trip times that fed the limit.");
  const char* dropped_help = "Requests whose round-trip time was not a sample, by reason.";
  c.dropped_stale = counter("strait_dp_adaptive_concurrency_samples_dropped_total", dropped_help,
                            {{"reason", "stale"}});
  c.dropped_no_response = counter("strait_dp_adaptive_concurrency_samples_dropped_total",
                                  dropped_help, {{"reason", "no_response"}});
  c.dropped_incomplete = counter("strait_dp_adaptive_concurrency_samples_dropped_total",
                                 dropped_help, {{"reason", "incomplete"}});
  c.in_flight = gauge("strait_dp_adaptive_concurrency_in_flight",
                      "Requests holding a slot under the adaptive limit.");
  c.waiting = gauge("strait_dp_adaptive_concurrency_queued",
                    "Requests waiting for a slot now.");
  c.limit = gauge("strait_dp_adaptive_concurrency_limit", "The concurrency limit in force.");
  c.min_rtt_us = gauge("strait_dp_adaptive_concurrency_min_rtt_microseconds",
                       "The measured round-trip time without queueing (minRTT).");
  c.sample_rtt_us = gauge("strait_dp_adaptive_concurrency_sample_rtt_microseconds",
                          "The last window's round-trip time at sample_percentile.");
  c.gradient_permille = gauge("strait_dp_adaptive_concurrency_gradient_permille",
                              "The last gradient x1000 (vegas: minRTT/sampleRTT x1000).");
  c.probing = gauge("strait_dp_adaptive_concurrency_probing",
                    "1 while minRTT is being measured.");
  c.recalculations = gauge("strait_dp_adaptive_concurrency_recalculations",
                           "Limit recalculations since the controller started.");
  c.probes = gauge("strait_dp_adaptive_concurrency_min_rtt_probes",
                   "minRTT probes since the controller started.");

  if (const auto* previous = dynamic_cast<const AdaptiveConcurrencyFactory*>(context.previous)) {
    controller_ = previous->controller_;  // same entry: the limit and its estimates carry over
  } else {
    controller_ = std::make_shared<ConcurrencyController>(
        config, context.process.time.monotonicTime(), context.process.random.random(), signal_);
    stats::Shard& main = context.store.mainShard();
    const Counters gauges = counters_;
    auto publish = [&main, gauges](const ControllerState& s) {
      main.set(gauges.limit, s.limit);
      main.set(gauges.min_rtt_us, s.min_rtt.count());
      main.set(gauges.sample_rtt_us, s.sample_rtt.count());
      main.set(gauges.gradient_permille, std::llround(s.gradient * 1000));
      main.set(gauges.probing, s.probing ? 1 : 0);
      main.set(gauges.recalculations, static_cast<int64_t>(s.recalculations));
      main.set(gauges.probes, static_cast<int64_t>(s.probes));
    };
    publish(controller_->state());
    controller_->setPublisher(publish);
  }
}

http::StreamFilterPtr AdaptiveConcurrencyFactory::createFilter() const {
  return std::make_unique<AdaptiveConcurrencyFilter>(*this);
}

void registerAdaptiveConcurrencyFilter() {
  registerAdaptiveConcurrencyParser();
  http::registerFilterFactory(
      "adaptive_concurrency",
      [](const config::FilterSettings& settings,
         http::FilterFactoryContext& context) -> http::FilterFactoryPtr {
        return std::make_shared<AdaptiveConcurrencyFactory>(
            static_cast<const AdaptiveConcurrencySettings&>(settings), context);
      });
}

}  // namespace strait::filters::adaptive_concurrency
