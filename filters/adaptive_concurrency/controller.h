#pragma once

// The adaptive concurrency controller (docs/config.md, "adaptive_concurrency"): finds the
// concurrency an upstream serves without queueing, from the round-trip times of the requests it
// admits, and refuses (or briefly queues) what goes over it.
//
// Scope: one per filter entry PER PROCESS, shared by every worker (per-worker limits misbehave
// at low traffic: each worker would see a fraction of the samples). Carried over a reload when
// the entry is unchanged.
//
// Threads: every method may be called from any thread. The request path (admit at once,
// complete, release) is lock-free: atomics for the limit, the requests in flight, the epoch and
// a lock-free RTT histogram. The recalculation runs on whichever request thread first finds it
// due (tick(), also called by admit and complete), guarded by an atomic flag instead of a lock:
// there is no timer, so nothing needs the main thread and nothing can fire into a controller
// that a worker is destroying. The queue (requests over the limit that may wait) takes a mutex,
// only when a request queues, when a slot frees while someone waits, and when the limit grows.
//
// The limit, per `algorithm`:
//  - gradient (Envoy's): every sample_window, gradient = clamp(minRTT×(1+buffer) / sampleRTT,
//    0.5, 2); limit = gradient×limit + sqrt(gradient×limit), clamped to [min_limit, max_limit].
//  - vegas (Netflix concurrency-limits): queue = limit×(1 − minRTT/sampleRTT); with L =
//    log10(limit): queue ≤ L: limit + beta×L; queue < alpha×L: limit + L; queue > beta×L:
//    limit − L; otherwise unchanged; then smoothed.
//  sampleRTT is the window's RTT at sample_percentile. A window without samples changes nothing.
//  While the window's peak concurrency stayed under half the limit (app-limited), the limit is
//  not raised: an idle upstream proves nothing about more load.
//
// minRTT is measured by a probe every min_rtt.interval (shortened by up to `jitter`), and at
// start. What Envoy gets wrong and this does not:
//  - The probe is not the floor: the limit is lowered only to the concurrency the last estimates
//    say the upstream serves without queueing (limit × minRTT / sampleRTT, Little's law), never
//    below min_limit; requests over it wait in the queue (room for the slots the probe took,
//    min_rtt.queue_timeout) instead of being refused.
//  - A sample counts only if its request started in the current epoch: every change of the limit
//    and every probe boundary starts a new epoch, so an RTT measured under the old limit never
//    steers the new one.
//  - A steady window whose sampleRTT is below minRTT lowers minRTT at once (the upstream got
//    faster) instead of waiting for the next probe.
// Excluded requests (health checks) and requests that ended without an upstream response (client
// cancel, local reply) give no sample: the filter calls release() instead of complete().
//
// Dry run: admit() always admits and says whether enforcing would have refused; the limit is
// computed as usual.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "filters/adaptive_concurrency/config.h"
#include "filters/adaptive_concurrency/rtt_histogram.h"
#include "filters/common/concurrency_signal.h"
#include "strait/common/time.h"

namespace strait::filters::adaptive_concurrency {

// A request waiting in the queue, kept by the controller until it is admitted or cancelled.
// onAdmitted() runs on the thread that made room, without the controller's lock: it must only
// post to the request's own worker.
class QueueWaiter {
 public:
  virtual ~QueueWaiter() = default;
  // The request now holds a slot, in `epoch`.
  virtual void onAdmitted(uint64_t epoch) = 0;

 private:
  friend class ConcurrencyController;
  enum : int { kQueued, kAdmitted, kCancelled };
  std::atomic<int> state_{kQueued};
};

enum class Refusal {
  None,
  OverLimit,  // over the limit and no queue
  QueueFull,  // over the limit and the queue is full
};

struct Admission {
  enum class Kind { Admitted, Queued, Refused } kind = Kind::Admitted;
  uint64_t epoch = 0;            // Admitted: pass it to complete()
  Refusal refusal = Refusal::None;
  bool dry_run_would_refuse = false;  // dry run: admitted, but enforcing would have refused
  bool probing = false;               // the minRTT probe is running
  std::chrono::milliseconds queue_timeout{0};  // Queued: how long it may wait
};

// What the controller knows now, for gauges and reports.
struct ControllerState {
  uint32_t limit = 0;
  uint32_t min_limit = 0;
  uint32_t in_flight = 0;
  uint32_t queued = 0;
  std::chrono::microseconds min_rtt{0};
  std::chrono::microseconds sample_rtt{0};
  double gradient = 1.0;  // gradient: the last gradient; vegas: minRTT / sampleRTT
  bool probing = false;
  uint64_t recalculations = 0;
  uint64_t probes = 0;
  uint64_t epoch = 0;
};

class ConcurrencyController {
 public:
  // `seed` drives the probe interval's jitter (tests fix it). `signal`, when given, gets the
  // limit (enforce mode), the requests in flight and each admission's queueing delay.
  ConcurrencyController(AdaptiveConcurrencyConfig config, MonotonicTime now, uint64_t seed,
                        std::shared_ptr<ConcurrencySignal> signal = nullptr);

  // What admit() asks for only when the request must queue.
  class WaiterSource {
   public:
    virtual std::shared_ptr<QueueWaiter> makeWaiter() = 0;

   protected:
    ~WaiterSource() = default;
  };
  Admission admit(MonotonicTime now, WaiterSource& source);
  // The request admitted in `epoch` got its whole response after `rtt`. Gives the slot back.
  // False: the sample was dropped as stale (the request started before the current epoch).
  bool complete(uint64_t epoch, std::chrono::microseconds rtt, MonotonicTime now);
  // A request holding a slot ended without a sample (cancelled, local reply, excluded).
  void release();
  // A queued request leaves (its timeout, or its stream went away). True: it was still queued.
  // False: it was admitted meanwhile (onAdmitted is on its way): it holds a slot and must
  // complete() or release() it.
  bool cancel(QueueWaiter& waiter);
  // Recalculates if a window has passed or the probe is due or over.
  void tick(MonotonicTime now);

  ControllerState state() const;
  // The limit in force is at min_limit (lock-free; the request path reads it).
  bool atFloor() const { return limit_.load(std::memory_order_relaxed) <= config_.min_limit; }
  const AdaptiveConcurrencyConfig& config() const { return config_; }
  // Called (on the recalculating thread, exclusively) after each recalculation.
  void setPublisher(std::function<void(const ControllerState&)> publisher);

 private:
  enum class Phase { Probing, Steady };

  bool tryTakeSlot();
  void publishQueued(uint32_t queued);
  void publishLimit(uint32_t limit);
  // Under busy_: one recalculation.
  void recalculate(MonotonicTime now);
  void startProbe(MonotonicTime now);
  void endProbe(MonotonicTime now, const RttHistogram& window);
  void steadyWindow(const RttHistogram& window, uint64_t peak_in_flight);
  void newEpoch();
  MonotonicTime nextProbeTime(MonotonicTime now);
  void setDue(MonotonicTime due) { due_ns_.store(due.time_since_epoch().count(), std::memory_order_relaxed); }
  // Admits queued requests while there is room (any thread).
  void drainQueue();
  uint32_t queueCapacity() const;

  const AdaptiveConcurrencyConfig config_;
  const std::shared_ptr<ConcurrencySignal> signal_;

  // The request path's state.
  std::atomic<uint32_t> limit_;
  std::atomic<uint32_t> in_flight_{0};
  std::atomic<uint64_t> peak_in_flight_{0};  // this window's
  std::atomic<uint64_t> epoch_{1};
  std::atomic<uint64_t> window_{0};   // histograms_[window_ & 1] takes this window's samples
  std::atomic<int64_t> due_ns_{0};    // the next recalculation or probe event
  std::atomic<bool> busy_{false};     // a thread is recalculating
  std::atomic<bool> probing_{true};
  std::atomic<uint32_t> probe_extra_{0};  // queue room the probe adds (the slots it took)
  RttHistogram histograms_[2];

  // The recalculation's state: only under busy_ (and read by state() racily, for display).
  Phase phase_ = Phase::Probing;
  double estimate_;               // the limit before rounding
  double steady_limit_;           // the limit the probe took slots from
  MonotonicTime window_end_;
  MonotonicTime probe_end_;       // Probing: the probe's deadline
  MonotonicTime next_probe_;      // Steady
  uint64_t rng_;
  std::atomic<int64_t> min_rtt_us_{0};
  std::atomic<int64_t> sample_rtt_us_{0};
  std::atomic<int64_t> gradient_milli_{1000};
  std::atomic<uint64_t> recalculations_{0};
  std::atomic<uint64_t> probes_{0};
  std::function<void(const ControllerState&)> publisher_;

  // Requests waiting for a slot; cancelled entries are skipped lazily.
  mutable std::mutex queue_lock_;
  std::deque<std::shared_ptr<QueueWaiter>> queue_;
  std::atomic<uint32_t> queued_{0};
};

using ConcurrencyControllerSharedPtr = std::shared_ptr<ConcurrencyController>;

}  // namespace strait::filters::adaptive_concurrency
