#include "filters/fault/fault_decision.h"

#include <charconv>
#include <cmath>

namespace strait::filters::fault {
namespace {

std::optional<int64_t> parseInteger(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

// "12.5" -> 12.5 percent in kPercentScale units; nullopt unless 0..100.
std::optional<uint32_t> parsePercent(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || !(value >= 0) ||
      value > 100) {
    return std::nullopt;
  }
  return percentFromDouble(value);
}

}  // namespace

FaultDecider::FaultDecider(FaultConfig config)
    : config_(std::move(config)),
      matcher_(config_.match),
      active_(config_.max_active_faults.value_or(UINT32_MAX)) {}

bool FaultDecider::draw(uint32_t percent, RandomGenerator& random) {
  if (percent == 0) {
    return false;
  }
  if (percent >= kPercentScale) {
    return true;
  }
  return random.bounded(kPercentScale) < percent;
}

void FaultDecider::applyHeaderDelay(const RequestAttributes& request, std::string_view name,
                                    bool& delay, std::chrono::milliseconds& time) {
  if (std::optional<std::string_view> value = request.header(name)) {
    std::optional<int64_t> ms = parseInteger(*value);
    if (ms && *ms >= 0 && *ms <= kMaxHeaderDelayMs) {
      delay = *ms > 0;
      time = std::chrono::milliseconds(*ms);
    } else {
      count(header_errors_);
    }
  }
}

void FaultDecider::applyHeaders(const RequestAttributes& request, RandomGenerator& random,
                                FaultDecision& decision) {
  applyHeaderDelay(request, "x-strait-fault-delay-ms", decision.delay, decision.delay_time);
  applyHeaderDelay(request, "x-strait-fault-response-delay-ms", decision.response_delay,
                   decision.response_delay_time);
  std::optional<std::string_view> abort = request.header("x-strait-fault-abort");
  if (!abort) {
    return;
  }
  uint32_t percent = kPercentScale;
  if (std::optional<std::string_view> text = request.header("x-strait-fault-abort-percent")) {
    std::optional<uint32_t> parsed = parsePercent(*text);
    if (!parsed) {
      count(header_errors_);
      return;
    }
    percent = *parsed;
  }
  bool reset = *abort == "reset";
  std::optional<int64_t> status = reset ? std::optional<int64_t>(0) : parseInteger(*abort);
  if (!reset && (!status || *status < 200 || *status > 599)) {
    count(header_errors_);
    return;
  }
  decision.abort = draw(percent, random);
  decision.abort_reset = reset;
  decision.abort_status = static_cast<uint16_t>(reset ? 0 : *status);
}

FaultDecision FaultDecider::decide(const RequestAttributes& request, RandomGenerator& random) {
  FaultDecision decision;
  if (!matcher_.matches(request)) {
    return decision;
  }
  if (config_.delay && draw(config_.delay->percent, random)) {
    decision.delay = true;
    decision.delay_time = config_.delay->fixed;
  }
  if (config_.abort && draw(config_.abort->percent, random)) {
    decision.abort = true;
    decision.abort_status = config_.abort->status;
    decision.abort_reset = config_.abort->reset;
  }
  if (config_.response_rate_limit && draw(config_.response_rate_limit->percent, random)) {
    decision.rate_limit = true;
    decision.rate_limit_kbps = config_.response_rate_limit->kbps;
  }
  if (config_.response_delay && draw(config_.response_delay->percent, random)) {
    decision.response_delay = true;
    decision.response_delay_time = config_.response_delay->fixed;
  }
  if (config_.header_control) {
    applyHeaders(request, random, decision);
  }
  if (!decision.any()) {
    return decision;
  }
  if (config_.mode == FilterMode::DryRun) {
    decision.dry_run = true;
    count(dry_run_);
    return decision;
  }
  if (!active_.tryAcquire()) {
    FaultDecision clean;  // the cap is reached: this request runs clean (overflow counted)
    clean.overflowed = true;
    return clean;
  }
  decision.holds_slot = true;
  if (decision.delay) {
    count(delays_);
  }
  if (decision.abort) {
    count(aborts_);
  }
  if (decision.rate_limit) {
    count(rate_limits_);
  }
  if (decision.response_delay) {
    count(response_delays_);
  }
  return decision;
}

void FaultDecider::finish(FaultDecision& decision) {
  if (decision.holds_slot) {
    active_.release();
    decision.holds_slot = false;
  }
}

ConnectionFaultDecision FaultDecider::decideConnection(RandomGenerator& random) {
  ConnectionFaultDecision decision;
  decision.reset = draw(config_.connection.reset_percent, random);
  decision.black_hole = !decision.reset && draw(config_.connection.black_hole_percent, random);
  decision.dry_run = config_.mode == FilterMode::DryRun;
  if (decision.dry_run && (decision.reset || decision.black_hole)) {
    count(dry_run_);
  } else if (decision.reset) {
    count(connection_resets_);
  } else if (decision.black_hole) {
    count(black_holes_);
  }
  return decision;
}

}  // namespace strait::filters::fault
