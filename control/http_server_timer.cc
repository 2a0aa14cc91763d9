#include "control/http_server_timer.h"

#include <utility>

namespace strait::cp::http {

Timer::Timer(uv_loop_t* loop, std::function<void()> on_fire)
    : handle_(new uv_timer_t), on_fire_(std::move(on_fire)) {
  uv_timer_init(loop, handle_);
  handle_->data = this;
}

void Timer::start(std::chrono::milliseconds timeout) {
  if (handle_ != nullptr) {
    uv_timer_start(handle_, &Timer::onFire, static_cast<uint64_t>(timeout.count()), 0);
  }
}

void Timer::stop() {
  if (handle_ != nullptr) {
    uv_timer_stop(handle_);
  }
}

void Timer::close() {
  if (handle_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(handle_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
    handle_ = nullptr;
  }
}

void Timer::onFire(uv_timer_t* handle) {
  // The callback may close this timer (its connection closing); nothing here touches it after.
  static_cast<Timer*>(handle->data)->on_fire_();
}

}  // namespace strait::cp::http
