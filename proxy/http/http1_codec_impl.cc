#include "proxy/http/http1_codec_impl.h"

#include <cstring>

namespace strait::http::http1 {

namespace {

ServerCodecImpl* server(llhttp_t* p) {
  return static_cast<ServerCodecImpl*>(p->data);
}

// llhttp keeps a pointer to its settings for the parser's lifetime, so they live in a static.
const llhttp_settings_t* serverSettings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = [](llhttp_t* p) { return server(p)->onMessageBegin(); };
    s.on_url = [](llhttp_t* p, const char* at, size_t n) { return server(p)->onUrl(at, n); };
    s.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
      return server(p)->onHeaderField(at, n);
    };
    s.on_header_field_complete = [](llhttp_t* p) { return server(p)->onHeaderFieldComplete(); };
    s.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      return server(p)->onHeaderValue(at, n);
    };
    s.on_header_value_complete = [](llhttp_t* p) { return server(p)->onHeaderValueComplete(); };
    s.on_headers_complete = [](llhttp_t* p) { return server(p)->onHeadersComplete(); };
    s.on_body = [](llhttp_t* p, const char* at, size_t n) { return server(p)->onBody(at, n); };
    s.on_message_complete = [](llhttp_t* p) { return server(p)->onMessageComplete(); };
    return s;
  }();
  return &settings;
}

bool isHttp10(const llhttp_t& p) {
  return p.http_major == 1 && p.http_minor == 0;
}

// RFC 9112 3.2.2: a server accepts the absolute-form ("http://host/path"); its authority
// replaces Host, and the path (with the query) is what routing sees. Returns false when the
// target is in absolute-form but has no authority.
bool normaliseAbsoluteForm(RequestHeaders& headers) {
  std::string_view target = headers.path;
  size_t scheme_end = 0;
  if (target.size() >= 7 && equalsIgnoreCase(target.substr(0, 7), "http://")) {
    scheme_end = 7;
  } else if (target.size() >= 8 && equalsIgnoreCase(target.substr(0, 8), "https://")) {
    scheme_end = 8;
  } else {
    return true;  // origin-form, asterisk-form or authority-form: left as it is
  }
  size_t path_start = target.find_first_of("/?", scheme_end);
  std::string_view authority =
      target.substr(scheme_end, path_start == std::string_view::npos ? std::string_view::npos
                                                                     : path_start - scheme_end);
  if (authority.empty()) {
    return false;
  }
  std::string path = path_start == std::string_view::npos
                         ? std::string("/")
                         : std::string(target.substr(path_start));
  if (path.front() == '?') {
    path.insert(path.begin(), '/');
  }
  headers.authority.assign(authority);
  headers.path = std::move(path);
  return true;
}

}  // namespace

// HeaderCollector

void HeaderCollector::endInput(const char* begin, const char* end) {
  for (const char* p = end; p != begin; --p) {
    if (p[-1] != ' ' && p[-1] != '\t') {
      last_non_ows_ = p[-1];
      return;
    }
  }
}

bool HeaderCollector::startsObsFold(const char* data) const {
  // A value span is preceded (past any SP/HT) by the ':' of its field, or, when a value is
  // continued in a later dispatch, by the value's own bytes. Only a fold puts a line feed there.
  // (llhttp reports an empty value as a zero-length span just after the line's LF; callers only
  // ask about spans that carry bytes.)
  const char* p = data;
  while (p != input_begin_ && (p[-1] == ' ' || p[-1] == '\t')) {
    --p;
  }
  char before = p != input_begin_ ? p[-1] : last_non_ows_;
  return before == '\n';
}

std::string_view HeaderCollector::reasonFor(Verdict v) {
  switch (v) {
    case Verdict::TooManyHeaders:
      return "too_many_headers";
    case Verdict::HeadersTooLarge:
      return "headers_too_large";
    case Verdict::ObsFold:
      return "obs_fold";
    case Verdict::Ok:
      break;
  }
  return "";
}

HeaderCollector::Verdict HeaderCollector::onField(const char* data, size_t len) {
  if (!field_open_) {
    if (++count_ > max_headers_) {
      return Verdict::TooManyHeaders;
    }
    // Each field costs its ": " and CRLF too, so many tiny headers still hit the byte limit.
    bytes_ += 4;
    map_->entries().emplace_back();
    field_open_ = true;
  }
  bytes_ += len;
  if (bytes_ > max_bytes_) {
    return Verdict::HeadersTooLarge;
  }
  appendLower(map_->entries().back().name, data, len);
  return Verdict::Ok;
}

HeaderKind HeaderCollector::onFieldComplete() {
  field_open_ = false;
  return classifyHeader(map_->entries().back().name);
}

HeaderCollector::Verdict HeaderCollector::onValue(const char* data, size_t len) {
  if (len > 0 && startsObsFold(data)) {
    return Verdict::ObsFold;
  }
  bytes_ += len;
  if (bytes_ > max_bytes_) {
    return Verdict::HeadersTooLarge;
  }
  map_->entries().back().value.append(data, len);
  return Verdict::Ok;
}

// Parsing

ParserRun runParser(llhttp_t& parser, HeaderCollector& collector, ParserState& state,
                    const char* data, size_t len) {
  switch (state) {
    case ParserState::Errored:
      return {{DispatchResult::Status::Error, 0}};
    case ParserState::Upgraded:
      return {{DispatchResult::Status::Upgraded, 0}};
    case ParserState::Paused:
      return {{DispatchResult::Status::Paused, 0}};
    case ParserState::Parsing:
      break;
  }
  if (len == 0) {
    return {{DispatchResult::Status::Ok, 0}};
  }
  collector.beginInput(data);
  llhttp_errno_t err = llhttp_execute(&parser, data, len);
  if (err == HPE_OK) {
    collector.endInput(data, data + len);
  }
  switch (err) {
    case HPE_OK:
      return {{DispatchResult::Status::Ok, len}};
    case HPE_PAUSED:
      state = ParserState::Paused;
      // Paused at a message end: what follows starts a new message, never a header value.
      collector.endInput(data, llhttp_get_error_pos(&parser));
      return {{DispatchResult::Status::Paused,
               static_cast<size_t>(llhttp_get_error_pos(&parser) - data)}};
    case HPE_PAUSED_UPGRADE:
      state = ParserState::Upgraded;
      return {{DispatchResult::Status::Upgraded,
               static_cast<size_t>(llhttp_get_error_pos(&parser) - data)}};
    default: {
      const char* pos = llhttp_get_error_pos(&parser);
      size_t consumed =
          pos != nullptr && pos >= data && pos <= data + len ? static_cast<size_t>(pos - data) : 0;
      return {{DispatchResult::Status::Error, consumed}, err};
    }
  }
}

// ServerCodecImpl

ServerCodecImpl::ServerCodecImpl(ServerCallbacks& callbacks, const CodecLimits& limits)
    : callbacks_(callbacks),
      limits_(limits),
      collector_(limits.max_header_bytes, limits.max_headers) {
  llhttp_init(&parser_, HTTP_REQUEST, serverSettings());
  parser_.data = this;
  collector_.reset(&headers_.headers);
}

int ServerCodecImpl::fail(uint16_t status, std::string_view reason) {
  if (error_status_ == 0) {
    error_status_ = status;
    error_reason_ = reason;
  }
  return -1;
}

int ServerCodecImpl::onMessageBegin() {
  headers_.clear();
  info_ = MessageInfo{};
  trailers_.clear();
  collector_.reset(&headers_.headers);
  in_trailers_ = false;
  has_host_ = false;
  seen_content_length_ = false;
  seen_transfer_encoding_ = false;
  body_bytes_ = 0;
  message_in_progress_ = true;
  return 0;
}

int ServerCodecImpl::onUrl(const char* data, size_t len) {
  if (headers_.path.size() + len > limits_.max_uri_bytes) {
    return fail(414, "uri_too_long");
  }
  headers_.path.append(data, len);
  return 0;
}

int ServerCodecImpl::onHeaderField(const char* data, size_t len) {
  if (auto v = collector_.onField(data, len); v != HeaderCollector::Verdict::Ok) {
    return fail(HeaderCollector::statusFor(v), HeaderCollector::reasonFor(v));
  }
  return 0;
}

int ServerCodecImpl::onHeaderFieldComplete() {
  HeaderKind kind = collector_.onFieldComplete();
  if (in_trailers_) {
    current_kind_ = HeaderKind::Other;
    return 0;
  }
  current_kind_ = kind;
  // Framing conflicts are decided on the name, before llhttp reads the value, so that the
  // reason reported is ours and stable.
  switch (kind) {
    case HeaderKind::Host:
      if (has_host_) {
        return fail(400, "multiple_host");
      }
      has_host_ = true;
      break;
    case HeaderKind::ContentLength:
      if (seen_content_length_) {
        return fail(400, "duplicate_content_length");
      }
      if (seen_transfer_encoding_) {
        return fail(400, "content_length_with_transfer_encoding");
      }
      seen_content_length_ = true;
      break;
    case HeaderKind::TransferEncoding:
      if (isHttp10(parser_)) {
        return fail(400, "transfer_encoding_in_http10");
      }
      if (seen_content_length_) {
        return fail(400, "content_length_with_transfer_encoding");
      }
      if (seen_transfer_encoding_) {
        // Two fields amount to a list ("chunked, chunked"), which is not exactly "chunked".
        return fail(501, "unsupported_transfer_encoding");
      }
      seen_transfer_encoding_ = true;
      break;
    default:
      break;
  }
  return 0;
}

int ServerCodecImpl::onHeaderValue(const char* data, size_t len) {
  if (auto v = collector_.onValue(data, len); v != HeaderCollector::Verdict::Ok) {
    return fail(HeaderCollector::statusFor(v), HeaderCollector::reasonFor(v));
  }
  return 0;
}

int ServerCodecImpl::onHeaderValueComplete() {
  if (in_trailers_) {
    return 0;
  }
  HeaderEntry& entry = collector_.current();
  trimInPlace(entry.value);
  switch (current_kind_) {
    case HeaderKind::Host:
      headers_.authority = std::move(entry.value);
      collector_.dropCurrent();
      break;
    case HeaderKind::TransferEncoding:
      if (!equalsIgnoreCase(entry.value, "chunked")) {
        return fail(501, "unsupported_transfer_encoding");
      }
      break;
    case HeaderKind::Expect:
      // HTTP/1.0 clients do not wait for 100 Continue (RFC 9110 10.1.1), so only 1.1 counts.
      if (!isHttp10(parser_) && equalsIgnoreCase(entry.value, "100-continue")) {
        info_.expect_continue = true;
        collector_.dropCurrent();
      }
      break;
    default:
      break;
  }
  return 0;
}

int ServerCodecImpl::onHeadersComplete() {
  // Any further fields are chunked trailers: they go to a scratch map, never to `headers_`,
  // which the callee owns from onRequestHeaders() on.
  in_trailers_ = true;
  collector_.reset(&trailers_);

  bool http10 = isHttp10(parser_);
  if (!http10 && !(parser_.http_major == 1 && parser_.http_minor == 1)) {
    return fail(400, "unsupported_version");
  }
  if (!http10 && !has_host_) {
    return fail(400, "missing_host");
  }
  if (!normaliseAbsoluteForm(headers_)) {
    return fail(400, "invalid_target");
  }
  info_.chunked = (parser_.flags & F_CHUNKED) != 0;
  if ((parser_.flags & F_CONTENT_LENGTH) != 0) {
    info_.content_length = parser_.content_length;
  }
  info_.has_body = info_.chunked || parser_.content_length > 0;
  info_.upgrade = parser_.upgrade != 0;
  info_.keep_alive = llhttp_should_keep_alive(&parser_) != 0 && !info_.upgrade;
  if (limits_.max_body_bytes > 0 && info_.content_length.has_value() &&
      *info_.content_length > limits_.max_body_bytes) {
    return fail(413, "body_too_large");
  }

  headers_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
  headers_.version_major = parser_.http_major;
  headers_.version_minor = parser_.http_minor;

  request_head_ = parser_.method == HTTP_HEAD;
  request_http10_ = http10;
  request_keep_alive_ = info_.keep_alive;
  response_framing_ = BodyFraming::Identity;
  close_after_response_ = false;

  callbacks_.onRequestHeaders(headers_, info_);
  return 0;
}

int ServerCodecImpl::onBody(const char* data, size_t len) {
  body_bytes_ += len;
  if (limits_.max_body_bytes > 0 && body_bytes_ > limits_.max_body_bytes) {
    // Only chunked bodies get here: a declared length was checked at headers complete.
    return fail(413, "body_too_large");
  }
  callbacks_.onRequestBody(data, len);
  return 0;
}

int ServerCodecImpl::onMessageComplete() {
  message_in_progress_ = false;
  callbacks_.onRequestComplete();
  if (parser_.upgrade != 0) {
    // llhttp stops by itself with HPE_PAUSED_UPGRADE right after this callback.
    return 0;
  }
  // Pause so that pipelined requests are handed out one at a time.
  return HPE_PAUSED;
}

DispatchResult ServerCodecImpl::dispatch(const char* data, size_t len) {
  ParserRun run = runParser(parser_, collector_, state_, data, len);
  if (run.error != HPE_OK) {
    return reportError(run.error, run.result.consumed);
  }
  return run.result;
}

DispatchResult ServerCodecImpl::reportError(llhttp_errno_t err, size_t consumed) {
  state_ = ParserState::Errored;
  message_in_progress_ = false;
  // The local reply that follows goes to a connection about to close; framing it for the
  // request's version when that much was parsed.
  request_http10_ = isHttp10(parser_);
  request_head_ = false;
  request_keep_alive_ = false;
  close_after_response_ = true;
  response_framing_ = BodyFraming::Identity;

  uint16_t status = 400;
  std::string_view reason;
  if (error_status_ != 0) {
    status = error_status_;
    reason = error_reason_;
  } else if (err == HPE_INVALID_TRANSFER_ENCODING) {
    // llhttp rejects a coding after "chunked" itself; the answer is still "not supported".
    status = 501;
    reason = "unsupported_transfer_encoding";
  } else if (err == HPE_UNEXPECTED_CONTENT_LENGTH) {
    const char* text = llhttp_get_error_reason(&parser_);
    reason = text != nullptr && std::strstr(text, "Duplicate") != nullptr
                 ? "duplicate_content_length"
                 : "content_length_with_transfer_encoding";
  } else {
    reason = parserErrorReason(err);
  }
  callbacks_.onRequestError(status, reason);
  return {DispatchResult::Status::Error, consumed};
}

void ServerCodecImpl::resume() {
  if (state_ == ParserState::Paused) {
    state_ = ParserState::Parsing;
    llhttp_resume(&parser_);
  }
}

void ServerCodecImpl::encodeHeaders(const ResponseHeaders& headers, bool end_stream,
                                    bool close_connection, buffer::Buffer& out) {
  const uint16_t status = headers.status;
  const bool informational = status < 200;
  const bool switching = status == 101;

  std::string& h = headScratch();
  h.clear();
  h.append("HTTP/1.1 ");
  appendDecimal(h, status);
  h.push_back(' ');
  h.append(reasonPhrase(status));
  h.append("\r\n");

  bool has_content_length = false;
  bool has_upgrade = false;
  for (const HeaderEntry& e : headers.headers) {
    HeaderKind kind = classifyHeader(e.name);
    if (kind == HeaderKind::Upgrade && switching) {
      has_upgrade = true;
    } else if (isHopByHop(kind)) {
      continue;
    } else if (kind == HeaderKind::ContentLength) {
      // RFC 9110 8.6: never on 1xx or 204; a 304 may repeat the representation's length.
      if (informational || status == 204) {
        continue;
      }
      has_content_length = true;
    }
    appendHeader(h, e.name, e.value);
  }

  if (informational) {
    if (switching && has_upgrade) {
      h.append("connection: upgrade\r\n");
    }
    // An interim response: framing and connection state belong to the final one.
    h.append("\r\n");
    out.add(h);
    return;
  }

  if (status == 204 || status == 304 || request_head_) {
    response_framing_ = BodyFraming::None;
  } else if (has_content_length) {
    response_framing_ = BodyFraming::Identity;
  } else if (end_stream) {
    h.append("content-length: 0\r\n");
    response_framing_ = BodyFraming::None;
  } else if (!request_http10_) {
    h.append("transfer-encoding: chunked\r\n");
    response_framing_ = BodyFraming::Chunked;
  } else {
    // HTTP/1.0 has no chunking: the end of the body is the end of the connection.
    response_framing_ = BodyFraming::Identity;
    close_after_response_ = true;
  }
  if (close_connection || !request_keep_alive_) {
    close_after_response_ = true;
  }
  if (close_after_response_) {
    h.append("connection: close\r\n");
  } else if (request_http10_) {
    // A 1.0 client keeps the connection only when told so (it asked, or it would not be here).
    h.append("connection: keep-alive\r\n");
  }
  h.append("\r\n");
  out.add(h);
}

void ServerCodecImpl::encodeData(buffer::Buffer& data, bool end_stream, buffer::Buffer& out) {
  encodeBody(response_framing_, data, end_stream, out);
}

void ServerCodecImpl::encode100Continue(buffer::Buffer& out) {
  out.add(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
}

std::unique_ptr<ServerCodec> createServerCodec(ServerCallbacks& callbacks,
                                               const CodecLimits& limits) {
  return std::make_unique<ServerCodecImpl>(callbacks, limits);
}

}  // namespace strait::http::http1
