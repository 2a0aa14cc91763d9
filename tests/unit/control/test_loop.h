#pragma once

// A libuv loop on its own thread for tests that drive the server with real clients (curl, a
// socket, a python HTTP/2 client) from the test thread. Everything the server touches lives on
// the loop thread; the test reaches it only through run(), which also makes polling simple:
// waitFor() evaluates its condition on the loop thread until it holds or a deadline passes.

#include <uv.h>

#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace strait::cp::test {

class LoopThread {
 public:
  LoopThread() {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &wakeup_, &LoopThread::onWakeup);
    wakeup_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }

  ~LoopThread() { stop(); }

  // Everything created on the loop must be gone (or closing) before this: the loop runs until
  // its last handle is closed, and the result, uv_loop_close()'s, says whether any was left
  // open (0: none).
  int stop() {
    if (thread_.joinable()) {
      run([this] { uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_), nullptr); });
      thread_.join();
      close_result_ = uv_loop_close(&loop_);
    }
    return close_result_;
  }

  uv_loop_t* loop() { return &loop_; }

  // Runs `fn` on the loop thread and returns its result.
  template <typename Fn>
  auto run(Fn fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    post([&task] { task(); });
    return result.get();
  }

  // Polls `condition` (run on the loop thread) until it holds or `timeout` passes.
  bool waitFor(const std::function<bool()>& condition,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!run([&] { return condition(); })) {
      if (std::chrono::steady_clock::now() > deadline) {
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

 private:
  void post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back(std::move(fn));
    }
    uv_async_send(&wakeup_);
  }

  // Wakeups coalesce, so the whole queue is drained each time.
  static void onWakeup(uv_async_t* handle) {
    auto* self = static_cast<LoopThread*>(handle->data);
    std::vector<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      tasks.swap(self->tasks_);
    }
    for (auto& task : tasks) {
      task();
    }
  }

  uv_loop_t loop_;
  uv_async_t wakeup_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::function<void()>> tasks_;
  int close_result_ = 0;
};

}  // namespace strait::cp::test
