#include "control/http_server_h1.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace strait::cp::http {
namespace {

// Input waiting behind an unfinished response beyond which reading stops.
constexpr size_t kMaxBufferedInput = 256 * 1024;

struct Reason {
  int status;
  std::string_view phrase;
};

constexpr Reason kReasons[] = {
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {413, "Content Too Large"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {503, "Service Unavailable"},
};

// Clients ignore the phrase; one is sent because the status line needs one.
std::string_view reasonPhrase(int status) {
  for (const Reason& reason : kReasons) {
    if (reason.status == status) {
      return reason.phrase;
    }
  }
  return "Unknown";
}

std::string lowerCase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool mentionsClose(std::string_view connection_header) {
  return lowerCase(std::string(connection_header)).find("close") != std::string::npos;
}

std::string chunkHeader(size_t size) {
  char buf[24];
  int n = std::snprintf(buf, sizeof(buf), "%zx\r\n", size);
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

Http1Exchange::Http1Exchange(Http1Session& session, HttpRequest request, bool keep_alive,
                             bool can_chunk)
    : ExchangeBase(std::move(request)),
      session_(&session),
      keep_alive_(keep_alive),
      can_chunk_(can_chunk) {}

void Http1Exchange::start(int status, std::vector<std::pair<std::string, std::string>> headers) {
  if (!writable() || started_) {
    return;
  }
  started_ = true;
  bodyless_ = request().method == "HEAD" || status == 204 || status == 304;
  std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
  head.append(reasonPhrase(status)).append("\r\n");
  bool sized = false;
  bool says_connection = false;
  for (const auto& [name, value] : headers) {
    if (name == "transfer-encoding") {
      continue;  // the framing is ours
    }
    sized = sized || name == "content-length";
    if (name == "connection") {
      says_connection = true;
      keep_alive_ = keep_alive_ && !mentionsClose(value);
    }
    head.append(name).append(": ").append(value).append("\r\n");
  }
  chunked_ = !sized && !bodyless_ && can_chunk_;
  if (chunked_) {
    head.append("transfer-encoding: chunked\r\n");
  } else if (!sized && !bodyless_) {
    keep_alive_ = false;  // the body ends when the connection does
  }
  if (!keep_alive_ && !says_connection) {
    head.append("connection: close\r\n");
  }
  head.append("\r\n");
  session_->send(head);
}

void Http1Exchange::write(std::string_view data) {
  if (!writable()) {
    return;
  }
  if (!started_) {
    start(200, {});
  }
  if (bodyless_ || data.empty()) {
    return;  // an empty chunk would end the body
  }
  if (chunked_) {
    std::string chunk = chunkHeader(data.size());
    chunk.append(data).append("\r\n");
    session_->send(chunk);
  } else {
    session_->send(data);
  }
}

void Http1Exchange::finish() {
  if (!writable()) {
    return;
  }
  if (!started_) {
    start(200, {{"content-length", "0"}});
  }
  if (chunked_) {
    session_->send("0\r\n\r\n");
  }
  markFinished();
  session_->responseFinished();
}

size_t Http1Exchange::pendingBytes() const {
  return session_ != nullptr ? session_->pendingWriteBytes() : 0;
}

Http1Session::Http1Session(Connection& connection) : connection_(connection) {
  llhttp_init(&parser_, HTTP_REQUEST, &settings());
  parser_.data = this;
}

const llhttp_settings_t& Http1Session::settings() {
  static const llhttp_settings_t kSettings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &Http1Session::onMessageBegin;
    s.on_url = &Http1Session::onUrl;
    s.on_header_field = &Http1Session::onHeaderField;
    s.on_header_value = &Http1Session::onHeaderValue;
    s.on_header_value_complete = &Http1Session::onHeaderValueComplete;
    s.on_headers_complete = &Http1Session::onHeadersComplete;
    s.on_body = &Http1Session::onBody;
    s.on_message_complete = &Http1Session::onMessageComplete;
    return s;
  }();
  return kSettings;
}

void Http1Session::receive(std::string_view data) {
  input_.append(data);
  advance();
}

void Http1Session::advance() {
  if (advancing_) {
    again_ = true;
    return;
  }
  advancing_ = true;
  do {
    again_ = false;
    step();
  } while (again_ && !connection_.closing());
  advancing_ = false;
}

void Http1Session::step() {
  if (connection_.closing()) {
    return;
  }
  if (current_ && current_->requestComplete()) {
    if (!current_->responseFinished()) {
      if (input_.size() > kMaxBufferedInput) {
        connection_.pauseReading();
      }
      return;
    }
    bool keep_alive = current_->keepAlive();
    endExchange();
    if (!keep_alive) {
      connection_.closeAfterWrites();
      return;
    }
    // Idle until the next request's first byte; one already buffered is parsed just below, so
    // its head is timed from here.
    connection_.setDeadline(Connection::Deadline::Idle);
    connection_.resumeReading();
  }
  if (!input_.empty()) {
    parse();
  }
}

void Http1Session::parse() {
  if (llhttp_get_errno(&parser_) == HPE_PAUSED) {
    llhttp_resume(&parser_);
  }
  llhttp_errno_t err = llhttp_execute(&parser_, input_.data(), input_.size());
  if (connection_.closing()) {
    return;
  }
  if (err == HPE_OK) {
    input_.clear();
    return;
  }
  if (err == HPE_PAUSED) {
    // The end of a request: what follows waits until its response is finished.
    input_.erase(0, static_cast<size_t>(llhttp_get_error_pos(&parser_) - input_.data()));
    again_ = true;
    return;
  }
  reject(header_too_large_ ? 431 : 400);
}

void Http1Session::requestHeadTimedOut() {
  if (head_begun_) {
    reject(408);
  } else {
    // Nothing was asked, so nothing is answered: a 408 could be taken for the answer to a
    // request the client is sending just now.
    connection_.closeAfterWrites();
  }
}

void Http1Session::reject(int status) {
  input_.clear();
  if (current_ && current_->started()) {
    // The response already began; an error status can no longer be sent.
    connection_.close();
    return;
  }
  std::string_view body = status == 431   ? "request header too large\n"
                          : status == 408 ? "request head not received in time\n"
                                          : "malformed request\n";
  std::string response = "HTTP/1.1 " + std::to_string(status) + " ";
  response.append(reasonPhrase(status))
      .append("\r\ncontent-type: text/plain\r\ncontent-length: ")
      .append(std::to_string(body.size()))
      .append("\r\nconnection: close\r\n\r\n")
      .append(body);
  connection_.send(response);
  connection_.closeAfterWrites();
}

void Http1Session::endExchange() {
  std::shared_ptr<Http1Exchange> exchange = std::move(current_);
  current_.reset();
  exchange->detach();
  exchange->deliverClose();
}

void Http1Session::detachExchanges() {
  if (current_) {
    endExchange();
  }
}

bool Http1Session::countHeaderBytes(size_t length) {
  header_bytes_ += length;
  header_too_large_ = header_bytes_ > connection_.options().max_request_header_bytes;
  return !header_too_large_;
}

// llhttp callbacks. A data callback may be called several times for one element (when it spans
// reads), so the pieces are appended.

int Http1Session::onMessageBegin(llhttp_t* parser) {
  Http1Session& self = from(parser);
  self.request_ = HttpRequest{};
  self.request_.peer_address = self.connection_.peer().peer_address;
  self.request_.peer_uri_san = self.connection_.peer().peer_uri_san;
  self.header_bytes_ = 0;
  self.field_.clear();
  self.value_.clear();
  self.head_begun_ = true;
  self.connection_.setDeadline(Connection::Deadline::RequestHead);
  return 0;
}

int Http1Session::onUrl(llhttp_t* parser, const char* at, size_t length) {
  Http1Session& self = from(parser);
  self.request_.path.append(at, length);
  return self.countHeaderBytes(length) ? 0 : -1;
}

int Http1Session::onHeaderField(llhttp_t* parser, const char* at, size_t length) {
  Http1Session& self = from(parser);
  self.field_.append(at, length);
  return self.countHeaderBytes(length) ? 0 : -1;
}

int Http1Session::onHeaderValue(llhttp_t* parser, const char* at, size_t length) {
  Http1Session& self = from(parser);
  self.value_.append(at, length);
  return self.countHeaderBytes(length) ? 0 : -1;
}

int Http1Session::onHeaderValueComplete(llhttp_t* parser) {
  Http1Session& self = from(parser);
  self.request_.headers.emplace_back(lowerCase(std::move(self.field_)), std::move(self.value_));
  self.field_.clear();
  self.value_.clear();
  // ": " and CRLF count towards the header block too.
  return self.countHeaderBytes(4) ? 0 : -1;
}

int Http1Session::onHeadersComplete(llhttp_t* parser) {
  Http1Session& self = from(parser);
  self.request_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser->method));
  self.request_.http_major = 1;
  self.head_begun_ = false;
  // From here the exchange is in progress: the handler decides how long it lasts.
  self.connection_.setDeadline(Connection::Deadline::None);
  // An Upgrade (h2c, websocket) is not offered: the request is served as plain HTTP/1.1.
  parser->upgrade = 0;
  bool keep_alive = llhttp_should_keep_alive(parser) != 0;
  bool can_chunk = parser->http_major == 1 && parser->http_minor >= 1;
  auto exchange =
      std::make_shared<Http1Exchange>(self, std::move(self.request_), keep_alive, can_chunk);
  self.current_ = exchange;
  auto expect = exchange->request().header("expect");
  if (expect && lowerCase(std::string(*expect)) == "100-continue") {
    self.connection_.send("HTTP/1.1 100 Continue\r\n\r\n");
  }
  self.connection_.dispatch(exchange);
  // The handler may have closed the server; stop parsing then.
  return self.connection_.closing() ? -1 : 0;
}

int Http1Session::onBody(llhttp_t* parser, const char* at, size_t length) {
  Http1Session& self = from(parser);
  if (self.current_) {
    std::shared_ptr<Http1Exchange> exchange = self.current_;
    exchange->deliverData(std::string_view(at, length));
  }
  return self.connection_.closing() ? -1 : 0;
}

int Http1Session::onMessageComplete(llhttp_t* parser) {
  Http1Session& self = from(parser);
  if (self.current_) {
    std::shared_ptr<Http1Exchange> exchange = self.current_;
    exchange->deliverEnd();
  }
  if (self.connection_.closing()) {
    return -1;
  }
  return HPE_PAUSED;
}

}  // namespace strait::cp::http
