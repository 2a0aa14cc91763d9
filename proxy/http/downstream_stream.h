#pragma once

// The downstream half of one stream, as its ActiveStream sees it: the codec that encodes the
// stream's response, the connection facilities it borrows (writes, read-disable of its request
// body, the stream's timers) and the notifications it owes when it ends. The HTTP/1.1
// ConnectionManager implements it for its one stream at a time; the HTTP/2 connection manager
// implements it once per HTTP/2 stream. ActiveStream depends on nothing else downstream, so the
// request lifecycle is the same code for both protocols.

#include <cstdint>
#include <memory>
#include <string>

#include "proxy/http/listener_runtime.h"
#include "strait/buffer/buffer.h"
#include "strait/event/dispatcher.h"
#include "strait/http/header_map.h"
#include "strait/http/worker_context.h"
#include "strait/network/connection.h"

namespace strait::http {

class ActiveStream;

// The timers of the stream in `stream` (the route timeout and the per-try timeout), owned by the
// downstream side so that a keep-alive connection reuses them request after request instead of
// creating and closing two uv timers per request. They fire on whatever stream `stream` holds
// then; the owner disables them when a stream ends (disableAll()).
class StreamTimers {
 public:
  // `factory`: the dispatcher, or a connection's event::TimerSet (HTTP/2: a timer per stream).
  StreamTimers(event::TimerFactory& factory, const std::unique_ptr<ActiveStream>& stream)
      : factory_(factory), stream_(stream) {}
  // Fires ActiveStream::onRouteTimeout().
  event::Timer& route();
  // Fires ActiveStream::onTryTimeout().
  event::Timer& perTry();
  void disableAll();

 private:
  // The timer in `slot`, created on first use; it calls `fire` on the stream it finds then.
  event::Timer& timer(event::TimerPtr& slot, void (ActiveStream::*fire)());

  event::TimerFactory& factory_;
  const std::unique_ptr<ActiveStream>& stream_;
  event::TimerPtr route_;
  event::TimerPtr per_try_;
};

class DownstreamStream {
 public:
  virtual ~DownstreamStream() = default;

  // ---- context
  virtual WorkerContext& worker() = 0;
  virtual const ListenerRuntime& listener() const = 0;
  virtual const SnapshotViewSharedPtr& snapshot() const = 0;
  // The peer's address without the port ("1.2.3.4").
  virtual const std::string& remoteAddress() const = 0;
  // The downstream connection (TLS state, peer certificate, addresses).
  virtual const network::Connection& connection() const = 0;
  // The peer's verified identity (a SPIFFE ID); empty without mTLS.
  const std::string& principal() const { return connection().peerPrincipal(); }

  // ---- response encoding. The encoders append wire bytes to `out` (HTTP/1.1) or hand the
  // message to the protocol's own framing and leave `out` empty (HTTP/2); either way the stream
  // then passes `out` to writeDownstream(), which is where bytes (or frames) leave.
  virtual void encode100Continue(buffer::Buffer& out) = 0;
  // `close_connection`: the connection should end after this response (HTTP/1.1: "connection:
  // close"; HTTP/2: GOAWAY, the other streams finish).
  virtual void encodeHeaders(const ResponseHeaders& headers, bool end_stream,
                             bool close_connection, buffer::Buffer& out) = 0;
  // Moves `data` into `out` (or into the stream's send queue); `data` is left empty.
  virtual void encodeData(buffer::Buffer& data, bool end_stream, buffer::Buffer& out) = 0;
  // Response trailers, before the encodeData() that ends the stream. HTTP/2 sends them as a
  // trailing HEADERS frame; HTTP/1.1 drops them (chunked trailers are not encoded yet).
  virtual void encodeTrailers(const HeaderMap& trailers) { (void)trailers; }
  virtual void writeDownstream(buffer::Buffer& data) = 0;
  // After encodeHeaders(): the connection must close once this response is written.
  virtual bool closeAfterResponse() const = 0;

  // ---- connection state the stream reads and sets
  // The peer will send nothing more on this connection (HTTP/1.1 half-close). Always false on
  // HTTP/2, where a stream's request end does not end the connection.
  virtual bool remoteClosed() const = 0;
  // The rest of this request cannot be read (a reply went out before its body ended): close
  // (HTTP/1.1) or reset (HTTP/2) the stream's transport once the response is written.
  virtual void setRemoteClosed() = 0;

  // ---- flow control and timers
  // Stops (true) or resumes (false) reading this stream's request body. Calls nest.
  virtual void readDisable(bool disable) = 0;
  // The stream's route-timeout and per-try-timeout timers.
  virtual StreamTimers& timers() = 0;

  // ---- the stream's end
  // The response was written whole (or the stream reset): `close` ends the connection too.
  virtual void onStreamComplete(bool close) = 0;
  // The stream was cut mid-response: HTTP/1.1 closes the connection (`how`: NoFlush, or Reset
  // for an RST); HTTP/2 resets only this stream.
  virtual void onStreamReset(network::CloseType how = network::CloseType::NoFlush) = 0;
};

}  // namespace strait::http
