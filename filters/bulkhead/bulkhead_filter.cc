#include "filters/bulkhead/bulkhead_filter.h"

#include <string>

#include "filters/common/http_attributes.h"

namespace strait::filters::bulkhead {

namespace {

class BulkheadFilter;

// What the controller keeps for a queued request. Called from any thread, without the lock:
// only posts to the stream's worker.
class QueueWaiter : public Waiter {
 public:
  QueueWaiter(event::Dispatcher& dispatcher, std::shared_ptr<bool> alive, BulkheadFilter* filter)
      : dispatcher_(dispatcher), alive_(std::move(alive)), filter_(filter) {}
  void onAdmitted() override;
  void onQueueTimeout() override;

 private:
  event::Dispatcher& dispatcher_;
  std::shared_ptr<bool> alive_;
  BulkheadFilter* filter_;
};

class BulkheadFilter : public http::StreamFilter, public BulkheadController::QueueEntrySource {
 public:
  explicit BulkheadFilter(const BulkheadFactory& factory)
      : factory_(factory), controller_(*factory.controller()) {}

  void setCallbacks(http::StreamFilterCallbacks& callbacks) override { callbacks_ = &callbacks; }

  http::FilterStatus decodeHeaders(http::RequestHeaders& headers, bool) override {
    HttpRequestAttributes request(headers, callbacks_->principal());
    std::optional<size_t> compartment = controller_.select(request);
    if (!compartment.has_value()) {
      return http::FilterStatus::Continue;
    }
    const CompartmentCounters& counters = factory_.counters(*compartment);
    stats::Shard& shard = callbacks_->statsShard();
    ticket_ = controller_.acquire(*compartment, *this);
    switch (ticket_.admission) {
      case Admission::NotLimited:
        return http::FilterStatus::Continue;
      case Admission::Admitted:
        onAdmittedNow();
        if (ticket_.dry_run_would == Admission::Queued) {
          shard.inc(counters.dry_run_queued);
        } else if (ticket_.dry_run_would == Admission::Rejected) {
          shard.inc(counters.dry_run_rejected);
        }
        if (ticket_.borrowed) {
          shard.inc(counters.borrowed);
        }
        return http::FilterStatus::Continue;
      case Admission::Queued: {
        state_ = State::Queued;
        shard.inc(counters.queued);
        shard.add(counters.waiting, 1);
        timer_ = callbacks_->dispatcher().createTimer([this] { onOwnDeadline(); });
        timer_->enableTimer(controller_config().queue_timeout);
        return http::FilterStatus::StopIteration;
      }
      case Admission::Rejected:
        state_ = State::Done;
        shard.inc(counters.rejected);
        overloaded(" full");
        return http::FilterStatus::StopIteration;
    }
    return http::FilterStatus::Continue;
  }

  // BulkheadController::QueueEntrySource: only for a request that queues.
  std::shared_ptr<Waiter> makeWaiter() override {
    alive_ = std::make_shared<bool>(true);
    return std::make_shared<QueueWaiter>(callbacks_->dispatcher(), alive_, this);
  }
  MonotonicTime now() override { return callbacks_->timeSource().monotonicTime(); }

  void onDestroy() override {
    if (alive_ != nullptr) {
      *alive_ = false;
    }
    timer_.reset();
    if (state_ == State::Queued) {
      leaveQueue();
      if (!controller_.cancel(ticket_) && ticket_.admission == Admission::Admitted) {
        controller_.release(ticket_);  // a slot was given to us meanwhile: give it back
      }
      state_ = State::Done;
    }
    if (state_ == State::Admitted) {
      callbacks_->statsShard().sub(factory_.counters(ticket_.compartment).active, 1);
      controller_.release(ticket_);
    }
    state_ = State::Done;
  }

  // On this stream's worker, posted by the waiter; the stream is still here.
  void admittedFromQueue() {
    if (state_ != State::Queued) {
      return;  // our own deadline already settled it
    }
    timer_.reset();
    leaveQueue();
    onAdmittedNow();
    callbacks_->continueDecoding();
  }
  void queueTimedOut() {
    if (state_ != State::Queued) {
      return;
    }
    timedOut();
  }

 private:
  enum class State { None, Queued, Admitted, Done };

  const Compartment& controller_config() const {
    return factory_.settingsOf(ticket_.compartment);
  }

  void onAdmittedNow() {
    state_ = State::Admitted;
    const CompartmentCounters& counters = factory_.counters(ticket_.compartment);
    callbacks_->statsShard().inc(counters.admitted);
    callbacks_->statsShard().add(counters.active, 1);
  }

  void leaveQueue() {
    callbacks_->statsShard().sub(factory_.counters(ticket_.compartment).waiting, 1);
  }

  // Our queue_timeout passed on our worker: leave the queue unless a slot came first.
  void onOwnDeadline() {
    if (state_ != State::Queued) {
      return;
    }
    if (controller_.cancel(ticket_)) {
      leaveQueue();
      timedOut();
      return;
    }
    leaveQueue();
    if (ticket_.admission == Admission::Admitted) {
      onAdmittedNow();  // admitted just now; the posted onAdmitted() will find us admitted
      callbacks_->continueDecoding();
      return;
    }
    timedOut();
  }

  void timedOut() {
    if (state_ == State::Queued) {
      state_ = State::Done;
    }
    callbacks_->statsShard().inc(factory_.counters(ticket_.compartment).timed_out);
    overloaded(" queue timeout");
  }

  void overloaded(const char* what) {
    callbacks_->sendLocalReply(503, "bulkhead " + controller_.name(ticket_.compartment) + what, "UO",
                               {{"x-strait-overloaded", "true"}});
  }

  const BulkheadFactory& factory_;
  BulkheadController& controller_;
  http::StreamFilterCallbacks* callbacks_ = nullptr;
  std::shared_ptr<bool> alive_;
  Ticket ticket_;
  State state_ = State::None;
  event::TimerPtr timer_;
};

void QueueWaiter::onAdmitted() {
  dispatcher_.post([alive = alive_, filter = filter_] {
    if (*alive) {
      filter->admittedFromQueue();
    }
    // Gone: its onDestroy() cancel()ed and released the slot it was given.
  });
}

void QueueWaiter::onQueueTimeout() {
  dispatcher_.post([alive = alive_, filter = filter_] {
    if (*alive) {
      filter->queueTimedOut();
    }
  });
}

}  // namespace

BulkheadFactory::BulkheadFactory(const BulkheadSettings& settings,
                                 http::FilterFactoryContext& context)
    : settings_(settings) {
  if (const auto* previous = dynamic_cast<const BulkheadFactory*>(context.previous)) {
    controller_ = previous->controller_;  // same block: queues and counts carry over
  } else {
    controller_ = std::make_shared<BulkheadController>(settings.bulkhead);
  }
  for (const Compartment& c : settings.bulkhead.compartments) {
    const stats::Labels labels{{"listener", context.listener}, {"compartment", c.name}};
    auto counter = [&](const char* name, const char* help) {
      return context.store.counter(name, help, labels);
    };
    CompartmentCounters counters;
    counters.admitted = counter("strait_dp_bulkhead_admitted_total",
                                "Requests given a slot in the compartment (at once or queued).");
    counters.queued = counter("strait_dp_bulkhead_queued_total",
                              "Requests that waited in the compartment's queue.");
    counters.rejected = counter("strait_dp_bulkhead_rejected_total",
                                "Requests refused (503) because the compartment and its queue "
                                "were full.");
    counters.timed_out = counter("strait_dp_bulkhead_timed_out_total",
                                 "Queued requests refused (503) after queue_timeout.");
    counters.borrowed = counter("strait_dp_bulkhead_borrowed_total",
                                "Requests admitted at once on capacity borrowed from other "
                                "compartments.");
    counters.dry_run_queued = counter("strait_dp_bulkhead_dry_run_queued_total",
                                      "Requests that would have been queued (dry_run).");
    counters.dry_run_rejected = counter("strait_dp_bulkhead_dry_run_rejected_total",
                                        "Requests that would have been refused (dry_run).");
    counters.active = context.store.gauge("strait_dp_bulkhead_active",
                                          "Requests holding a slot of the compartment.", labels);
    counters.waiting = context.store.gauge("strait_dp_bulkhead_queued",
                                           "Requests waiting in the compartment's queue.", labels);
    counters_.push_back(counters);
  }
}

http::StreamFilterPtr BulkheadFactory::createFilter() const {
  return std::make_unique<BulkheadFilter>(*this);
}

void registerBulkheadFilter() {
  registerBulkheadParser();
  http::registerFilterFactory(
      "bulkhead", [](const config::FilterSettings& settings, http::FilterFactoryContext& context)
                      -> http::FilterFactoryPtr {
        return std::make_shared<BulkheadFactory>(static_cast<const BulkheadSettings&>(settings),
                                                 context);
      });
}

}  // namespace strait::filters::bulkhead
