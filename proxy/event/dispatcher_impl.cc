#include "proxy/event/dispatcher_impl.h"

#include <algorithm>
#include <cstdlib>

namespace strait::event {

namespace {

// Lazy re-arming. Most timers on the data path are armed for seconds and disarmed or pushed
// later within microseconds, request after request (a connection's idle and route timers, a
// stream's per-try timer): doing that in libuv's timer heap costs two heap operations per
// request, O(log n) in the number of timers. Here disabling only clears the logical deadline and
// arming for a deadline later than the one libuv holds changes nothing in the heap; when libuv's
// timer fires early it is re-armed for what is left (or does nothing when disabled). So a
// keep-alive connection touches the heap about once per timeout period, not per request. Arming
// for an earlier deadline re-arms libuv at once. Deadlines are in libuv's loop time (uv_now), the
// clock its timers run on.
class TimerImpl : public Timer {
 public:
  TimerImpl(uv_loop_t* loop, TimerCb cb) : cb_(std::move(cb)), handle_(new uv_timer_t) {
    uv_timer_init(loop, handle_);
    handle_->data = this;
  }
  ~TimerImpl() override { DispatcherImpl::closeHandle(handle_); }

  void enableTimer(std::chrono::milliseconds delay) override {
    uint64_t ms = static_cast<uint64_t>(delay.count() < 0 ? 0 : delay.count());
    due_ = uv_now(handle_->loop) + ms;
    enabled_ = true;
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(handle_)) != 0 && armed_due_ <= due_) {
      return;  // libuv fires first; onFire() re-arms for the rest
    }
    arm(ms);
  }
  void disableTimer() override { enabled_ = false; }
  bool enabled() const override { return enabled_; }

 private:
  void arm(uint64_t ms) {
    armed_due_ = uv_now(handle_->loop) + ms;
    uv_timer_start(
        handle_,
        [](uv_timer_t* h) {
          auto* self = static_cast<TimerImpl*>(h->data);
          if (self != nullptr) {
            self->onFire();
          }
        },
        ms, 0);
  }
  void onFire() {
    if (!enabled_) {
      return;  // disabled since it was armed
    }
    uint64_t now = uv_now(handle_->loop);
    if (now < due_) {
      arm(due_ - now);  // pushed later since it was armed
      return;
    }
    enabled_ = false;
    cb_();  // may re-enable, or destroy, this timer: nothing after this line
  }

  TimerCb cb_;
  uv_timer_t* handle_;
  uint64_t due_ = 0;        // the logical deadline (uv_now time), while enabled_
  uint64_t armed_due_ = 0;  // when libuv's timer fires, while it is active
  bool enabled_ = false;
};

}  // namespace

DispatcherImpl::DispatcherImpl(TimeSource& time_source)
    : time_source_(time_source),
      async_(new uv_async_t),
      deferred_check_(new uv_check_t),
      thread_id_(std::this_thread::get_id()) {
  if (uv_loop_init(&loop_) != 0) {
    std::abort();  // Out of file descriptors at startup: nothing sensible to do.
  }
  uv_async_init(&loop_, async_, [](uv_async_t* h) {
    auto* self = static_cast<DispatcherImpl*>(h->data);
    if (self != nullptr) {
      self->runPosted();
    }
  });
  async_->data = this;
  uv_check_init(&loop_, deferred_check_);
  deferred_check_->data = this;
}

void DispatcherImpl::deferredDelete(DeferredDeletablePtr object) {
  if (deferred_check_ == nullptr) {
    // The dispatcher is being destroyed (its check handle is closed): the loop runs only to
    // finish close callbacks, so there is no "end of this iteration" to wait for.
    object.reset();
    return;
  }
  to_delete_.push_back(std::move(object));
  startCheck();
}

// A check handle runs right after the loop polled for I/O: the end of this iteration.
void DispatcherImpl::startCheck() {
  uv_check_start(deferred_check_, [](uv_check_t* h) {
    auto* self = static_cast<DispatcherImpl*>(h->data);
    if (self != nullptr) {
      self->clearDeferredDeleteList();
    }
  });
}

void DispatcherImpl::flushAtEndOfIteration(EndOfIterationTarget* target) {
  if (deferred_check_ == nullptr) {
    target->onEndOfIteration();  // being destroyed: no end of iteration to wait for
    return;
  }
  if (std::find(to_flush_.begin(), to_flush_.end(), target) == to_flush_.end()) {
    to_flush_.push_back(target);
  }
  startCheck();
}

void DispatcherImpl::cancelFlush(EndOfIterationTarget* target) {
  std::replace(to_flush_.begin(), to_flush_.end(), target,
               static_cast<EndOfIterationTarget*>(nullptr));
  std::replace(flushing_.begin(), flushing_.end(), target,
               static_cast<EndOfIterationTarget*>(nullptr));
}

void DispatcherImpl::clearDeferredDeleteList() {
  // Flushes first (they may defer deletions), then deletions (destructors may defer more, or
  // cancel flushes); loop until both lists stay empty.
  while (!to_flush_.empty() || !to_delete_.empty()) {
    while (!to_flush_.empty()) {
      flushing_.swap(to_flush_);  // a target gone meanwhile is nulled here by cancelFlush()
      for (size_t i = 0; i < flushing_.size(); i++) {
        if (EndOfIterationTarget* target = flushing_[i]) {
          flushing_[i] = nullptr;
          target->onEndOfIteration();
        }
      }
      flushing_.clear();
    }
    std::vector<DeferredDeletablePtr> batch;
    batch.swap(to_delete_);
    batch.clear();
  }
  if (deferred_check_ != nullptr) {
    uv_check_stop(deferred_check_);
  }
}

void DispatcherImpl::addShutdownCloser(const void* key, std::function<void()> closer) {
  shutdown_closers_[key] = std::move(closer);
}

void DispatcherImpl::removeShutdownCloser(const void* key) { shutdown_closers_.erase(key); }

DispatcherImpl::~DispatcherImpl() {
  // A closer usually unregisters itself (and may defer deletions): run a copy.
  std::map<const void*, std::function<void()>> closers = std::move(shutdown_closers_);
  shutdown_closers_.clear();
  for (auto& [key, closer] : closers) {
    closer();
  }
  clearDeferredDeleteList();
  closeHandle(async_);
  // From here on deferredDelete() deletes at once: a close callback run by the loop below may
  // defer a deletion, and must not restart a check handle that is being closed (a crash seen at
  // shutdown under load before this).
  uv_check_t* check = deferred_check_;
  deferred_check_ = nullptr;
  closeHandle(check);
  // The loop is torn down, not run: nothing scheduled for it may fire now, when what its callbacks
  // use (the owner's members declared after this dispatcher) may already be gone. Callbacks still
  // posted are dropped unrun (what they own is released here, on the loop's thread, where it may
  // close its handles; a destructor that posts again is drained too), and every timer is stopped
  // before the loop below runs the close callbacks.
  for (;;) {
    std::vector<PostCb> dropped;
    {
      std::lock_guard<std::mutex> guard(post_lock_);
      dropped.swap(posted_);
    }
    if (dropped.empty()) {
      break;
    }
  }
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (h->type == UV_TIMER) {
          uv_timer_stop(reinterpret_cast<uv_timer_t*>(h));
        }
      },
      nullptr);
  // Let pending close callbacks run, then close anything left so the loop can be torn down.
  uv_run(&loop_, UV_RUN_NOWAIT);
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (uv_is_closing(h) == 0) {
          uv_close(h, nullptr);
        }
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

TimerPtr DispatcherImpl::createTimer(TimerCb cb) {
  return std::make_unique<TimerImpl>(&loop_, std::move(cb));
}

void DispatcherImpl::post(PostCb cb) {
  {
    std::lock_guard<std::mutex> guard(post_lock_);
    posted_.push_back(std::move(cb));
  }
  uv_async_send(async_);
}

void DispatcherImpl::runPosted() {
  bool exit_now;
  {
    std::lock_guard<std::mutex> guard(post_lock_);
    running_.swap(posted_);
    exit_now = exit_requested_;
  }
  for (auto& cb : running_) {
    cb();
  }
  running_.clear();
  if (exit_now) {
    uv_stop(&loop_);
  }
}

MonotonicTime DispatcherImpl::approximateMonotonicTime() const {
  // Through the injected time source, so that tests with a simulated clock see the same time.
  return time_source_.monotonicTime();
}

void DispatcherImpl::run() {
  thread_id_ = std::this_thread::get_id();
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void DispatcherImpl::exit() {
  {
    std::lock_guard<std::mutex> guard(post_lock_);
    exit_requested_ = true;
  }
  uv_async_send(async_);
}

}  // namespace strait::event
