#pragma once

// libuv implementation of Dispatcher: one uv_loop_t, a uv_async_t for posted work, uv_timer_t
// timers. Handle memory is released only in its close callback (libuv's rule), so owners hand
// their handles to closeHandle() instead of freeing them.

#include <uv.h>

#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "strait/event/dispatcher.h"

namespace strait::event {

class DispatcherImpl : public Dispatcher {
 public:
  explicit DispatcherImpl(TimeSource& time_source);
  ~DispatcherImpl() override;

  uv_loop_t* loop() { return &loop_; }
  // Destroys what deferredDelete() holds now (for shutdown, when the loop no longer runs).
  void clearDeferred() { clearDeferredDeleteList(); }

  // What owns itself until an event of its own (a lingering connection waits for the peer's EOF
  // or a timeout) registers how to close it: the destructor runs every closer still registered
  // before it closes the loop, so nothing such leaks at shutdown.
  void addShutdownCloser(const void* key, std::function<void()> closer);
  void removeShutdownCloser(const void* key);

  // Closes any uv handle allocated with `new T` and deletes it in the close callback.
  template <typename T>
  static void closeHandle(T* handle) {
    auto* h = reinterpret_cast<uv_handle_t*>(handle);
    h->data = nullptr;
    if (uv_is_closing(h) == 0) {
      uv_close(h, [](uv_handle_t* closed) { delete reinterpret_cast<T*>(closed); });
    }
  }

  // Dispatcher
  void deferredDelete(DeferredDeletablePtr object) override;
  TimerPtr createTimer(TimerCb cb) override;
  void flushAtEndOfIteration(EndOfIterationTarget* target) override;
  void cancelFlush(EndOfIterationTarget* target) override;
  void post(PostCb cb) override;
  MonotonicTime approximateMonotonicTime() const override;
  TimeSource& timeSource() override { return time_source_; }
  void run() override;
  void exit() override;
  bool isThreadSafe() const override { return std::this_thread::get_id() == thread_id_; }

 private:
  void runPosted();
  void clearDeferredDeleteList();
  void startCheck();

  TimeSource& time_source_;
  uv_loop_t loop_;
  uv_async_t* async_;
  uv_check_t* deferred_check_;
  std::vector<DeferredDeletablePtr> to_delete_;
  std::map<const void*, std::function<void()>> shutdown_closers_;
  std::vector<EndOfIterationTarget*> to_flush_;
  std::vector<EndOfIterationTarget*> flushing_;  // the batch being flushed
  std::mutex post_lock_;
  std::vector<PostCb> posted_;
  std::vector<PostCb> running_;  // swapped with posted_ so the lock is held only for the swap
  bool exit_requested_ = false;  // guarded by post_lock_
  std::thread::id thread_id_;
};

}  // namespace strait::event
