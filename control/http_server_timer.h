#pragma once

// A one-shot libuv timer for the HTTP server's connections. The uv_timer_t is heap-allocated and
// freed in its close callback, so the owner may be freed before that callback runs (a
// connection is freed in its socket's close callback, which libuv may run first); once closed,
// the timer never fires.

#include <uv.h>

#include <chrono>
#include <functional>

namespace strait::cp::http {

class Timer {
 public:
  Timer(uv_loop_t* loop, std::function<void()> on_fire);
  ~Timer() { close(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Fires once after `timeout` (from the loop's cached time), replacing any earlier start.
  void start(std::chrono::milliseconds timeout);
  void stop();
  // Idempotent; nothing fires after it.
  void close();

 private:
  static void onFire(uv_timer_t* handle);

  uv_timer_t* handle_;
  std::function<void()> on_fire_;
};

}  // namespace strait::cp::http
