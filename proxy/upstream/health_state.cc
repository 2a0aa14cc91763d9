#include "proxy/upstream/health_state.h"

namespace strait::upstream {

HealthTransition HealthState::onSuccess() {
  failures_ = 0;
  if (successes_ < UINT32_MAX) {
    successes_++;
  }
  if (!healthy_ && successes_ >= healthy_threshold_) {
    healthy_ = true;
    return HealthTransition::BecameHealthy;
  }
  return HealthTransition::None;
}

HealthTransition HealthState::onFailure() {
  successes_ = 0;
  if (failures_ < UINT32_MAX) {
    failures_++;
  }
  if (healthy_ && failures_ >= unhealthy_threshold_) {
    healthy_ = false;
    return HealthTransition::BecameUnhealthy;
  }
  return HealthTransition::None;
}

}  // namespace strait::upstream
