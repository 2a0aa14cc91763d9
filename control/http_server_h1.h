#pragma once

// HTTP/1.1 on one connection (llhttp): one request at a time. The parser pauses at the end of
// each request and resumes only when that request's response is finished, so pipelined requests
// wait in the input buffer (and reading stops while that buffer is large). The connection's
// deadline follows the request: its head is timed from its first byte (or from the previous
// response's end, or from accept for the first), nothing is timed while the exchange is in
// progress, and the wait for the next request after a keep-alive response is the idle one.

#include <llhttp.h>

#include <memory>
#include <string>
#include <string_view>

#include "control/http_server_connection.h"
#include "control/http_server_exchange.h"

namespace strait::cp::http {

class Http1Session;

// A request and its response. Dropped by the handler before finish(), it stays with the session
// and the connection stays open until the peer closes it.
class Http1Exchange : public ExchangeBase {
 public:
  // `can_chunk` is false for an HTTP/1.0 client: a streamed body then ends with the connection.
  Http1Exchange(Http1Session& session, HttpRequest request, bool keep_alive, bool can_chunk);

  // Exchange
  void start(int status, std::vector<std::pair<std::string, std::string>> headers) override;
  void write(std::string_view data) override;
  void finish() override;
  size_t pendingBytes() const override;

  void detach() { session_ = nullptr; }
  bool keepAlive() const { return keep_alive_; }
  bool started() const { return started_; }

 private:
  bool writable() const { return session_ != nullptr && !isClosed() && !responseFinished(); }

  Http1Session* session_;
  bool keep_alive_;
  bool can_chunk_;
  bool started_ = false;
  bool chunked_ = false;
  // HEAD, 204 and 304 responses have no body whatever their headers say.
  bool bodyless_ = false;
};

class Http1Session : public Session {
 public:
  explicit Http1Session(Connection& connection);

  // Session
  void receive(std::string_view data) override;
  void goAway() override {}
  void detachExchanges() override;
  void requestHeadTimedOut() override;

  // From the exchange.
  void send(std::string_view data) { connection_.send(data); }
  void responseFinished() { advance(); }
  size_t pendingWriteBytes() const { return connection_.pendingWriteBytes(); }

 private:
  static const llhttp_settings_t& settings();
  static Http1Session& from(llhttp_t* parser) { return *static_cast<Http1Session*>(parser->data); }
  static int onMessageBegin(llhttp_t* parser);
  static int onUrl(llhttp_t* parser, const char* at, size_t length);
  static int onHeaderField(llhttp_t* parser, const char* at, size_t length);
  static int onHeaderValue(llhttp_t* parser, const char* at, size_t length);
  static int onHeaderValueComplete(llhttp_t* parser);
  static int onHeadersComplete(llhttp_t* parser);
  static int onBody(llhttp_t* parser, const char* at, size_t length);
  static int onMessageComplete(llhttp_t* parser);

  // Runs step() until nothing changes; re-entrant calls (a handler finishing its response from
  // inside a parser callback) only ask for one more round.
  void advance();
  void step();
  void parse();
  bool countHeaderBytes(size_t length);
  void endExchange();
  void reject(int status);

  Connection& connection_;
  llhttp_t parser_;
  // Bytes received and not yet parsed.
  std::string input_;
  std::shared_ptr<Http1Exchange> current_;
  // The request whose head is being parsed.
  HttpRequest request_;
  std::string field_;
  std::string value_;
  size_t header_bytes_ = 0;
  bool header_too_large_ = false;
  // Between a head's first byte and its end.
  bool head_begun_ = false;
  bool advancing_ = false;
  bool again_ = false;
};

}  // namespace strait::cp::http
