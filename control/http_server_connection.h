#pragma once

// One accepted TCP connection of the HTTP server: reads and writes on the libuv stream, runs
// TLS when the server has a context, picks the protocol (HTTP/2 by ALPN or by the client
// preface, else HTTP/1.1), and hands plaintext to the protocol's session. It holds one timer for
// whatever the peer owes it next (a handshake, a request head, a new exchange). Its memory is
// released in the libuv close callback, never earlier, so a session or a write callback may still
// refer to a connection that is closing.

#include <uv.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "control/http_server.h"
#include "control/http_server_timer.h"

struct ssl_ctx_st;

namespace strait::cp::http {

class Connection;
class TlsSession;

// What a connection needs from the server that accepted it.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  virtual void dispatch(const ExchangePtr& exchange) = 0;
  // The connection's handle is closed; it deletes itself after this.
  virtual void onConnectionClosed(Connection& connection) = 0;
};

// A protocol spoken on a connection: HTTP/1.1 or HTTP/2.
class Session {
 public:
  virtual ~Session() = default;
  // Plaintext from the peer.
  virtual void receive(std::string_view data) = 0;
  // The server is closing: say so to the peer if the protocol can (HTTP/2 GOAWAY).
  virtual void goAway() = 0;
  // The connection is closing: every exchange still open sees on_close.
  virtual void detachExchanges() = 0;
  // The request-head deadline passed: answer 408 if part of a head arrived, and close.
  virtual void requestHeadTimedOut() = 0;
};

class Connection {
 public:
  // What the peer owes the connection, each with its timeout (HttpServerOptions). None while an
  // exchange is in progress: the handler, not the peer, decides when that ends.
  enum class Deadline { None, Handshake, RequestHead, Idle };

  // Marks a session's call into its protocol library (llhttp, nghttp2), whose callbacks reach
  // the handler. A closeAfterWrites() from inside only marks the connection draining; the rest
  // waits until the outermost call returns, so what the session could not hand over inside it
  // (nghttp2 forbids sending from its callbacks: a GOAWAY, a response already submitted)
  // leaves first.
  class SessionCall {
   public:
    explicit SessionCall(Connection& connection) : connection_(connection) {
      ++connection_.session_calls_;
    }
    ~SessionCall() { connection_.endSessionCall(); }
    SessionCall(const SessionCall&) = delete;
    SessionCall& operator=(const SessionCall&) = delete;

   private:
    Connection& connection_;
  };

  // `tls` null: plaintext.
  Connection(uv_loop_t* loop, ConnectionOwner& owner, const HttpServerOptions& options,
             ssl_ctx_st* tls);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  // After uv_accept succeeded on stream(). False if the connection could not start; it is then
  // closing.
  bool start();

  // Plaintext to the peer (encrypted first on TLS).
  void send(std::string_view data);
  // Closes once the bytes already sent have left; nothing more is read or dispatched.
  void closeAfterWrites();
  // Closes now; unsent bytes are dropped.
  void close();
  // The server's close(): a GOAWAY where the protocol has one, then closeAfterWrites().
  void shutdown();
  // The server is gone: nothing may call back into it.
  void orphan() { owner_ = nullptr; }

  void dispatch(const ExchangePtr& exchange);
  // HTTP/1.1 back-pressure: stop reading while requests wait behind an unfinished response.
  void pauseReading();
  void resumeReading();
  // Starts the deadline's timer. Setting the deadline already running keeps its start, so a
  // head arriving a byte at a time does not push it back. Ignored once the connection closes.
  void setDeadline(Deadline deadline);

  bool closing() const { return state_ != State::Open; }
  // Closed for good: nothing more can be sent.
  bool closed() const { return state_ == State::Closed; }
  size_t pendingWriteBytes() const { return pending_write_bytes_; }
  const HttpServerOptions& options() const { return options_; }
  // peer_address and peer_uri_san for every request on this connection.
  const HttpRequest& peer() const { return peer_; }

 private:
  enum class State { Open, Draining, Closed };
  struct WriteRequest;

  ~Connection();
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onWrite(uv_write_t* req, int status);
  static void onClosed(uv_handle_t* handle);

  void receiveCiphertext(std::string_view data);
  void onHandshake();
  void receivePlaintext(std::string_view data);
  // Picks the session from the first bytes; false while they are a prefix of the preface.
  bool chooseSession();
  void sendRaw(std::string data);
  // closeAfterWrites() past the state change: the session ends, TLS says close_notify, and the
  // socket closes once the writes are done.
  void finishDraining();
  void endSessionCall();
  void endSession();
  std::chrono::milliseconds timeoutOf(Deadline deadline) const;
  void onDeadline();

  uv_tcp_t tcp_;
  ConnectionOwner* owner_;
  HttpServerOptions options_;
  State state_ = State::Open;
  bool reading_ = false;
  Deadline deadline_ = Deadline::None;
  Timer timer_;
  // SessionCalls in progress, and whether a closeAfterWrites() waits for them to end.
  int session_calls_ = 0;
  bool drain_deferred_ = false;
  HttpRequest peer_;
  std::unique_ptr<TlsSession> tls_;
  std::unique_ptr<Session> session_;
  bool session_detached_ = false;
  // Bytes read before the protocol is known.
  std::string first_bytes_;
  size_t pending_write_bytes_ = 0;
  size_t writes_in_flight_ = 0;
  std::array<char, 64 * 1024> read_buffer_;
};

}  // namespace strait::cp::http
