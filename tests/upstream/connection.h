#pragma once

#include <llhttp.h>
#include <uv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "tests/upstream/capacity.h"
#include "tests/upstream/request.h"

namespace strait::testupstream {

class Server;

// One accepted client connection: parses requests with llhttp and answers them one at a time.
// Pipelined requests are answered in order because the parser is paused at the end of every
// request and resumed only once its response is fully written. Bodies (request and response)
// are streamed, never held whole in memory.
class Connection {
 public:
  explicit Connection(Server& server);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Accepts from the listener and starts reading. On failure the connection closes itself.
  int accept(uv_stream_t* listener);
  // Graceful-enough close for shutdown and errors. Idempotent; frees itself when uv is done.
  void close();
  // Called by the CapacityQueue when this queued request reaches a free slot.
  void startService();

 private:
  // Where the request stands in the capacity model.
  enum class Slot { None, Queued, InService };
  enum class State {
    Reading,   // waiting for or parsing a request
    Queued,    // waiting in the CapacityQueue for a slot
    Delaying,  // the response waits for its service time (--delay-ms, --latency, delay_ms)
    Writing,   // a response is being written
    Tunnel,    // after 101 Switching Protocols: echo every byte back
    Draining,  // shut down our side after connection: close; discard input until EOF
  };
  // One piece of output; the queue holds the head and at most one body slice with framing.
  struct Segment {
    const char* data;
    size_t length;
  };
  static constexpr size_t kMaxSegments = 8;

  // llhttp callbacks.
  static int onMessageBegin(llhttp_t* parser);
  static int onUrl(llhttp_t* parser, const char* at, size_t length);
  static int onHeaderField(llhttp_t* parser, const char* at, size_t length);
  static int onHeaderValue(llhttp_t* parser, const char* at, size_t length);
  static int onHeadersComplete(llhttp_t* parser);
  static int onBody(llhttp_t* parser, const char* at, size_t length);
  static int onMessageComplete(llhttp_t* parser);
  static const llhttp_settings_t& parserSettings();

  // uv callbacks.
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onWrite(uv_write_t* req, int status);
  static void onEchoWritten(uv_write_t* req, int status);
  static void onContinueWritten(uv_write_t* req, int status);
  static void onTimer(uv_timer_t* timer);
  static void onShutdown(uv_shutdown_t* req, int status);
  static void onClose(uv_handle_t* handle);

  void handleReadEnd(ssize_t error);
  void feed(const char* data, size_t length);
  void drainPending();
  void startReading();
  void stopReading();

  // Responses.
  void startResponse(bool upgradeRequest);
  void buildHead(int status, uint64_t contentLength, bool emitLength, const char* contentType);
  void pushSegment(const char* data, size_t length);
  void buildEcho();
  void buildStats();
  void sendContinue();
  void beginWrite();
  void pump();
  void refill();
  void consume(size_t bytes);
  void finishResponse();
  void endInFlight();
  uint64_t serviceTime(const ResponseControl& control);
  void admit(uint64_t serviceMs);
  void endService();
  void leaveCapacity();
  void badRequest();
  void echo(const char* data, size_t length);
  void closeWithReset();
  void closeHandles(bool reset);

  Server& server_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_write_t writeReq_{};
  uv_write_t echoReq_{};
  uv_shutdown_t shutdownReq_{};
  int openHandles_{0};
  bool closing_{false};
  bool reading_{false};
  bool inFeed_{false};
  bool countedConnection_{false};
  bool inFlight_ = false;  // counted in ServerStats::in_flight
  State state_{State::Reading};
  Slot slot_{Slot::None};
  CapacityQueue::Ticket ticket_{};
  uint64_t serviceMs_{0};

  llhttp_t parser_{};
  std::unique_ptr<char[]> readBuffer_;
  // Bytes that arrived while a response was in progress (pipelining); parsed afterwards.
  std::string pending_;
  std::string work_;

  // The request being answered.
  RequestRecord request_;
  uint64_t requestBodyBytes_{0};
  bool keepAlive_{true};
  int httpMinor_{1};
  uint8_t method_{0};

  // The response being written.
  std::string head_;
  std::string fixedBody_;
  bool hasFixedBody_{false};
  uint64_t bodyOffset_{0};
  uint64_t bodyRemaining_{0};
  bool chunked_{false};
  bool chunkTerminatorSent_{true};
  bool closeAfter_{false};
  bool resetAfterHeaders_{false};
  bool tunnelAfter_{false};
  char chunkHead_[24]{};
  std::array<Segment, kMaxSegments> segments_{};
  size_t segmentHead_{0};
  size_t segmentCount_{0};
  size_t queuedBytes_{0};
};

}  // namespace strait::testupstream
