#pragma once

// The HTTP filter contract (ARCHITECTURE.md, "The filter contract"; docs/writing-a-filter.md).
//
// A listener's `http.filters` list becomes, per config snapshot, one immutable FilterFactory per
// entry (settings, stats handles, and any process-wide controller); every request gets one
// StreamFilter from each factory, in list order. Requests run through the filters in that order
// (decodeHeaders), responses in the reverse order (encodeHeaders, encodeData); the router is the
// implicit last filter. A filter returns Continue to pass the message on, or StopIteration to
// hold it: it then resumes with continueDecoding() / continueEncoding() or ends the request with
// sendLocalReply() / resetStream(). Async work (a timer, a queue slot) is released in
// onDestroy(), which is called exactly once, before the filter is deleted, however the stream
// ended.
//
// A factory may also act on whole connections, before any request: FilterFactory::acceptHook()
// (AcceptHook below) sees every connection its listener accepts.
//
// Threads: factories are built on the main thread and shared read-only by every worker; a
// StreamFilter lives and dies on the worker that runs its stream.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/filter_registry.h"
#include "strait/buffer/buffer.h"
#include "strait/common/random.h"
#include "strait/common/time.h"
#include "strait/event/dispatcher.h"
#include "strait/http/header_map.h"
#include "strait/stats/stats.h"

namespace strait::config {
struct Route;
}

namespace strait::http {

enum class FilterStatus {
  Continue,       // pass the message to the next filter
  StopIteration,  // hold it; resume with continueDecoding()/continueEncoding() or end the stream
};

// What a filter may ask of its stream. Valid from setCallbacks() until onDestroy().
class StreamFilterCallbacks {
 public:
  virtual ~StreamFilterCallbacks() = default;

  // Resumes the request path after a decodeHeaders() that returned StopIteration.
  virtual void continueDecoding() = 0;
  // Resumes the response path after an encodeHeaders() that returned StopIteration: the head
  // goes on through the filters before this one, then the body that arrived meanwhile.
  virtual void continueEncoding() = 0;
  // During encodeHeaders(): whether this head may be held (StopIteration). An upstream response
  // may; a local reply or a direct response is written at once and may not (StopIteration there
  // counts as Continue).
  virtual bool canHoldResponseHeaders() const = 0;
  // Ends the stream with a local reply (status, `content-type: text/plain`, `body` + "\n") and
  // records `flag` (e.g. "FI", "UA", "UO") in the access log. Extra response headers may be given.
  // After this call the filter gets no more callbacks except onDestroy().
  virtual void sendLocalReply(uint16_t status, std::string_view body, std::string_view flag,
                              const std::vector<HeaderEntry>& headers = {}) = 0;
  // Ends the stream by resetting the downstream connection (HTTP/1.1: close with RST).
  virtual void resetStream(std::string_view flag) = 0;
  // Adds a response flag without ending anything (e.g. "FI" for an injected delay).
  virtual void addResponseFlag(std::string_view flag) = 0;

  // Writes response data that a filter held (encodeData returned StopIteration) on towards the
  // client, past this filter. `end_stream` ends the response.
  virtual void injectEncodedData(buffer::Buffer& data, bool end_stream) = 0;
  // A filter holding response data asks the upstream to stop (true) or resume (false) sending.
  virtual void setUpstreamReadDisabled(bool disabled) = 0;

  // The request's context.
  virtual const RequestHeaders& requestHeaders() const = 0;
  // The route the request matched, or null when none did (the router will answer 404).
  virtual const config::Route* route() const = 0;
  // The cluster the route names (its first weighted cluster), or empty.
  virtual std::string_view clusterName() const = 0;
  // The peer's verified identity (a SPIFFE ID), empty without mTLS.
  virtual const std::string& principal() const = 0;

  // The worker's services: timers, randomness, time, stats.
  virtual event::Dispatcher& dispatcher() = 0;
  virtual RandomGenerator& random() = 0;
  virtual const TimeSource& timeSource() const = 0;
  virtual stats::Shard& statsShard() = 0;
  // The index of the worker running the stream (0 .. ProcessSignals::workerCount() - 1), e.g.
  // to read that worker's ProcessSignals::eventLoopLag().
  virtual uint32_t workerIndex() const = 0;
  // The filter's controller is overloaded now (adaptive limit at its floor or queueing, shedding
  // active): the router sends no hedge for this request, so hedges never add to an overload.
  virtual void markOverloaded() {}
};

class StreamFilter {
 public:
  virtual ~StreamFilter() = default;

  virtual void setCallbacks(StreamFilterCallbacks& callbacks) = 0;
  // The request head. `end_stream`: the request has no body.
  virtual FilterStatus decodeHeaders(RequestHeaders& headers, bool end_stream) = 0;
  // The response head, before it is encoded; may edit headers. StopIteration holds the head,
  // and every body byte after it, until this filter calls continueEncoding() (the chain keeps a
  // copy of the head and the body bytes; the filter keeps nothing). Local replies do not pass
  // here.
  virtual FilterStatus encodeHeaders(ResponseHeaders& headers, bool end_stream) {
    (void)headers;
    (void)end_stream;
    return FilterStatus::Continue;
  }
  // A piece of the response body. StopIteration: the filter has moved what it holds out of
  // `data` and will pass it on with injectEncodedData(); what is left in `data` is dropped.
  virtual FilterStatus encodeData(buffer::Buffer& data, bool end_stream) {
    (void)data;
    (void)end_stream;
    return FilterStatus::Continue;
  }
  // The stream is over (completed, reset or torn down). Cancel timers and give back anything
  // taken from a shared controller. Called exactly once.
  virtual void onDestroy() {}
};

using StreamFilterPtr = std::unique_ptr<StreamFilter>;

// What an AcceptHook does with one newly accepted downstream connection.
enum class AcceptAction {
  Accept,     // serve it as usual
  Reset,      // close it at once with a TCP RST, before any byte is read
  BlackHole,  // keep it open, read and discard everything, never answer; closed only when the
              // client closes it or the proxy drains or shuts down
};

struct AcceptDecision {
  AcceptAction action = AcceptAction::Accept;
  // BlackHole: a gauge the worker raises by one (in its shard) while the connection is open.
  std::optional<stats::Gauge> held_gauge;
};

// A listener-level hook that sees every connection the listener accepts, before TLS and before
// any byte is read (a connection has no request yet: nothing to match on). The hooks of a
// listener run in filter order; the first that does not Accept decides. Shared by every worker:
// onAccept() runs on the worker that accepted the connection, so it must be thread-safe, must not
// block, and draws only from the worker's `random`; `shard` is that worker's stats shard.
class AcceptHook {
 public:
  virtual ~AcceptHook() = default;
  virtual AcceptDecision onAccept(RandomGenerator& random, stats::Shard& shard) const = 0;
};

// One per filter entry per config snapshot; shared read-only by the workers.
class FilterFactory {
 public:
  virtual ~FilterFactory() = default;
  virtual StreamFilterPtr createFilter() const = 0;
  // The factory's hook on accepted connections, or null (most filters). The hook lives as long
  // as the factory.
  virtual const AcceptHook* acceptHook() const { return nullptr; }
};

using FilterFactoryPtr = std::shared_ptr<const FilterFactory>;

// What the process tells a filter about itself, from any thread (relaxed reads: they steer
// decisions, they guard no memory). An adaptive controller or a load shedder reads them.
class ProcessSignals {
 public:
  virtual ~ProcessSignals() = default;
  // The process is draining (POST /drain, SIGTERM): it finishes what it has and takes nothing
  // new; a filter may stop probing for more capacity.
  virtual bool draining() const = 0;
  // The worker threads serving requests: a per-process limit's share of one worker.
  virtual uint32_t workerCount() const = 0;
  // How late worker `worker`'s event loop runs its timers (smoothed): a loop busy with other
  // callbacks serves every stream on it late. Zero when unknown or not measured.
  virtual std::chrono::microseconds eventLoopLag(uint32_t worker) const {
    (void)worker;
    return std::chrono::microseconds(0);
  }
  // The process's CPU use over the last sampling period, as a share of its worker threads' cores
  // (1.0: as many cores busy as there are workers, or as the machine has if fewer); nullopt
  // until measured.
  virtual std::optional<double> cpuUtilisation() const { return std::nullopt; }
};

// The process as a filter factory (built on the main thread) sees it: the main thread's
// dispatcher, where a process-wide controller runs its timers (adaptive concurrency's
// recalculation, a shedder's window), the clock and the randomness to use there (injected, so
// tests drive them), and the process's signals. Streams use their worker's dispatcher, clock
// and randomness (FilterCallbacks), never these.
struct ProcessContext {
  event::Dispatcher& main_dispatcher;
  const TimeSource& time;
  RandomGenerator& random;
  const ProcessSignals& signals;
};

// What a factory builder gets: the stats store (register per-filter stats here), the listener's
// name (a label), the factory built for the same entry by the previous snapshot, if its
// settings were equal (so a process-wide controller can carry over a reload), and the process.
struct FilterFactoryContext {
  stats::Store& store;
  std::string listener;
  std::string filter_name;
  const FilterFactory* previous;
  const ProcessContext& process;
};

// `settings` are the entry's parsed settings; they belong to the same snapshot as the factory and
// outlive it, so a factory may keep a reference.
using FilterFactoryBuilder =
    std::function<FilterFactoryPtr(const config::FilterSettings& settings,
                                   FilterFactoryContext& context)>;

// The registry of factory builders, by filter name. Filled once at startup
// (filters::registerBuiltinFilters()), before any config is loaded; read-only afterwards.
void registerFilterFactory(std::string name, FilterFactoryBuilder builder);
const FilterFactoryBuilder* findFilterFactory(std::string_view name);

}  // namespace strait::http
