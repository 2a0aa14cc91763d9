#include "filters/load_shed/load_shed_filter.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace strait::filters::load_shed {

namespace {

int64_t permille(double value) {
  return static_cast<int64_t>(std::lround(value * 1000));
}

class LoadShedFilter : public http::StreamFilter {
 public:
  explicit LoadShedFilter(const LoadShedFactory& factory) : factory_(factory) {}

  void setCallbacks(http::StreamFilterCallbacks& callbacks) override { callbacks_ = &callbacks; }

  http::FilterStatus decodeHeaders(http::RequestHeaders& headers, bool) override {
    const LoadShedConfig& config = factory_.config();
    std::optional<std::string_view> header;
    if (!config.priority.header.empty()) {
      if (const std::string* value = headers.headers.get(config.priority.header)) {
        header = *value;
      }
    }
    const config::Route* route = callbacks_->route();
    std::optional<Priority> route_class;
    if (route != nullptr && route->route.has_value() && !route->route->priority.empty()) {
      route_class = parsePriority(route->route->priority);  // validated by the config loader
    }
    const PriorityResult priority = factory_.resolver().resolve(
        route != nullptr ? std::string_view(route->name) : std::string_view(), header,
        callbacks_->principal(), route_class);
    stats::Shard& shard = callbacks_->statsShard();
    if (priority.untrusted_header) {
      shard.inc(factory_.untrustedPriority());
    }
    if (priority.invalid_header) {
      shard.inc(factory_.invalidPriority());
    }
    const ShedRuntime& runtime = *factory_.runtime();
    const Decision decision = runtime.controller().decide(
        priority.priority, runtime.signals().eventLoopLag(callbacks_->workerIndex()),
        runtime.concurrency().demand(), callbacks_->random());
    const ClassCounters& counters = factory_.counters(priority.priority);
    const auto cause = static_cast<size_t>(decision.cause);
    if (!decision.shed) {
      shard.inc(counters.admitted);
      // Shedding is on (the lowest class is being shed): no hedge may add to the load.
      if (config.mode == FilterMode::Enforce &&
          runtime.controller().probability(Priority::NiceToHave) > 0) {
        callbacks_->markOverloaded();
      }
      return http::FilterStatus::Continue;
    }
    if (config.mode == FilterMode::DryRun) {
      shard.inc(counters.dry_run_shed[cause]);
      shard.inc(counters.admitted);
      return http::FilterStatus::Continue;
    }
    shard.inc(counters.shed[cause]);
    callbacks_->sendLocalReply(
        503,
        std::string("load_shed ") + priorityName(priority.priority) + " " +
            signalName(decision.cause),
        "LS", {{"retry-after", factory_.retryAfter()}, {"x-strait-overloaded", "true"}});
    return http::FilterStatus::StopIteration;
  }

 private:
  const LoadShedFactory& factory_;
  http::StreamFilterCallbacks* callbacks_ = nullptr;
};

}  // namespace

ShedRuntime::ShedRuntime(const LoadShedConfig& config, const http::ProcessContext& process,
                         std::shared_ptr<ConcurrencySignal> signal, stats::Store& store,
                         Gauges gauges)
    : controller_(config),
      process_(process),
      signal_(std::move(signal)),
      store_(store),
      gauges_(gauges) {
  // Starts a fresh CoDel window: what was recorded before this controller existed is not ours.
  signal_->takeMinQueueDelay();
  // `this` is safe in the callback: the runtime, and with it the timer, is destroyed on the main
  // thread and never from inside this callback (load_shed_filter.h).
  timer_ = process_.main_dispatcher.createTimer([this] { tick(); });
  timer_->enableTimer(controller_.config().interval);
}

ShedRuntime::~ShedRuntime() {
  timer_.reset();
}

void ShedRuntime::tick() {
  SignalSample sample;
  const ConcurrencySignal::QueueDelayWindow window = signal_->takeMinQueueDelay();
  sample.queue_samples = window.samples;
  sample.queue_min = window.min;
  sample.limit = signal_->limit();
  sample.in_flight = signal_->inFlight();
  sample.queued = signal_->queued();
  const http::ProcessSignals& signals = process_.signals;
  for (uint32_t worker = 0; worker < signals.workerCount(); ++worker) {
    sample.max_event_loop_lag = std::max(sample.max_event_loop_lag, signals.eventLoopLag(worker));
  }
  sample.cpu = signals.cpuUtilisation();
  controller_.update(sample);

  stats::Shard& main = store_.mainShard();
  main.set(gauges_.overload, permille(controller_.overload()));
  for (size_t i = 0; i < kPriorityCount; ++i) {
    main.set(gauges_.probability[i], permille(controller_.probability(static_cast<Priority>(i))));
  }
  for (size_t i = 0; i < kSignalCount; ++i) {
    main.set(gauges_.pressure[i], permille(controller_.pressure(static_cast<Signal>(i))));
  }
  if (timer_ != nullptr) {
    timer_->enableTimer(controller_.config().interval);
  }
}

LoadShedFactory::LoadShedFactory(const LoadShedSettings& settings,
                                 http::FilterFactoryContext& context)
    : settings_(settings),
      main_dispatcher_(context.process.main_dispatcher),
      resolver_(settings.load_shed.priority) {
  stats::Store& store = context.store;
  const std::string& listener = context.listener;
  for (size_t c = 0; c < kPriorityCount; ++c) {
    const std::string cls = priorityName(static_cast<Priority>(c));
    ClassCounters& counters = counters_[c];
    counters.admitted =
        store.counter("strait_dp_load_shed_admitted_total",
                      "Requests the load_shed filter let through, by priority class.",
                      {{"listener", listener}, {"class", cls}});
    for (size_t s = 0; s < kSignalCount; ++s) {
      const stats::Labels labels{
          {"listener", listener}, {"class", cls}, {"cause", signalName(static_cast<Signal>(s))}};
      counters.shed[s] = store.counter(
          "strait_dp_load_shed_shed_total",
          "Requests shed (503, flag LS), by priority class and the signal that overloaded.",
          labels);
      counters.dry_run_shed[s] = store.counter(
          "strait_dp_load_shed_dry_run_shed_total",
          "Requests that would have been shed (dry_run), by priority class and cause.", labels);
    }
  }
  untrusted_priority_ = store.counter(
      "strait_dp_load_shed_untrusted_priority_total",
      "Requests whose priority header was ignored: the peer is not trusted to set it.",
      {{"listener", listener}});
  invalid_priority_ = store.counter(
      "strait_dp_load_shed_invalid_priority_total",
      "Requests whose priority header, from a trusted peer, named no class (ignored).",
      {{"listener", listener}});
  const int64_t ms = settings.load_shed.retry_after.count();
  retry_after_ = std::to_string(std::max<int64_t>(1, (ms + 999) / 1000));

  if (const auto* previous = dynamic_cast<const LoadShedFactory*>(context.previous)) {
    runtime_ = previous->runtime_;  // same block: the controller and its window carry over
    return;
  }
  ShedRuntime::Gauges gauges;
  gauges.overload = store.gauge(
      "strait_dp_load_shed_overload",
      "The load_shed overload (the largest signal pressure, without worker lag), in permille.",
      {{"listener", listener}});
  for (size_t c = 0; c < kPriorityCount; ++c) {
    gauges.probability[c] = store.gauge(
        "strait_dp_load_shed_probability",
        "The shedding probability of a priority class at the current overload, in permille.",
        {{"listener", listener}, {"class", priorityName(static_cast<Priority>(c))}});
  }
  for (size_t s = 0; s < kSignalCount; ++s) {
    gauges.pressure[s] = store.gauge(
        "strait_dp_load_shed_pressure",
        "One signal's pressure (1000 = at its target; event_loop_lag: the worst worker).",
        {{"listener", listener}, {"signal", signalName(static_cast<Signal>(s))}});
  }
  runtime_ = std::make_shared<ShedRuntime>(settings.load_shed, context.process,
                                           concurrencySignalFor(listener), store, gauges);
}

LoadShedFactory::~LoadShedFactory() {
  // The runtime's timer belongs to the main thread: hand it our reference there (see the file
  // comment of load_shed_filter.h).
  if (runtime_ != nullptr && !main_dispatcher_.isThreadSafe()) {
    main_dispatcher_.post([runtime = std::move(runtime_)] {});
  }
}

http::StreamFilterPtr LoadShedFactory::createFilter() const {
  return std::make_unique<LoadShedFilter>(*this);
}

void registerLoadShedFilter() {
  registerLoadShedParser();
  http::registerFilterFactory("load_shed",
                              [](const config::FilterSettings& settings,
                                 http::FilterFactoryContext& context) -> http::FilterFactoryPtr {
                                return std::make_shared<LoadShedFactory>(
                                    static_cast<const LoadShedSettings&>(settings), context);
                              });
}

}  // namespace strait::filters::load_shed
