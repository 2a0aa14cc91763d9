#include "proxy/http/http1_codec_impl.h"

namespace strait::http::http1 {

namespace {

ClientCodecImpl* client(llhttp_t* p) {
  return static_cast<ClientCodecImpl*>(p->data);
}

// llhttp keeps a pointer to its settings for the parser's lifetime, so they live in a static.
const llhttp_settings_t* clientSettings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = [](llhttp_t* p) { return client(p)->onMessageBegin(); };
    s.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
      return client(p)->onHeaderField(at, n);
    };
    s.on_header_field_complete = [](llhttp_t* p) { return client(p)->onHeaderFieldComplete(); };
    s.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      return client(p)->onHeaderValue(at, n);
    };
    s.on_header_value_complete = [](llhttp_t* p) { return client(p)->onHeaderValueComplete(); };
    s.on_headers_complete = [](llhttp_t* p) { return client(p)->onHeadersComplete(); };
    s.on_body = [](llhttp_t* p, const char* at, size_t n) { return client(p)->onBody(at, n); };
    s.on_message_complete = [](llhttp_t* p) { return client(p)->onMessageComplete(); };
    return s;
  }();
  return &settings;
}

// Values on_headers_complete may return to llhttp.
constexpr int kProceed = 0;
constexpr int kSkipBody = 1;
constexpr int kSkipBodyAndUpgrade = 2;

}  // namespace

ClientCodecImpl::ClientCodecImpl(ClientCallbacks& callbacks)
    : callbacks_(callbacks), collector_(kMaxResponseHeaderBytes, kMaxResponseHeaders) {
  llhttp_init(&parser_, HTTP_RESPONSE, clientSettings());
  parser_.data = this;
  collector_.reset(&headers_.headers);
}

void ClientCodecImpl::encodeHeaders(const RequestHeaders& headers, const MessageInfo& info,
                                    buffer::Buffer& out) {
  std::string& h = headScratch();
  h.clear();
  h.append(headers.method);
  h.push_back(' ');
  h.append(headers.path.empty() ? std::string_view("/") : std::string_view(headers.path));
  h.append(" HTTP/1.1\r\n");
  if (!headers.authority.empty()) {
    appendHeader(h, "host", headers.authority);
  }
  for (const HeaderEntry& e : headers.headers) {
    HeaderKind kind = classifyHeader(e.name);
    if (kind == HeaderKind::Upgrade && info.upgrade) {
      appendHeader(h, e.name, e.value);
      continue;
    }
    // Framing comes from `info`, never from headers that described another hop.
    if (isHopByHop(kind) || kind == HeaderKind::Host || kind == HeaderKind::ContentLength ||
        (kind == HeaderKind::Expect && info.expect_continue)) {
      continue;
    }
    appendHeader(h, e.name, e.value);
  }
  if (info.upgrade) {
    h.append("connection: upgrade\r\n");
  }
  if (info.content_length.has_value()) {
    h.append("content-length: ");
    appendDecimal(h, *info.content_length);
    h.append("\r\n");
    request_framing_ = *info.content_length > 0 ? BodyFraming::Identity : BodyFraming::None;
  } else if (info.chunked) {
    h.append("transfer-encoding: chunked\r\n");
    request_framing_ = BodyFraming::Chunked;
  } else {
    request_framing_ = BodyFraming::None;
  }
  if (info.expect_continue) {
    h.append("expect: 100-continue\r\n");
  }
  h.append("\r\n");
  out.add(h);
  request_head_ = headers.method == "HEAD";
}

void ClientCodecImpl::encodeData(buffer::Buffer& data, bool end_stream, buffer::Buffer& out) {
  encodeBody(request_framing_, data, end_stream, out);
}

int ClientCodecImpl::fail(std::string_view reason) {
  if (error_reason_.empty()) {
    error_reason_ = reason;
  }
  return -1;
}

int ClientCodecImpl::onMessageBegin() {
  headers_.clear();
  trailers_.clear();
  info_ = MessageInfo{};
  collector_.reset(&headers_.headers);
  in_trailers_ = false;
  message_in_progress_ = true;
  return 0;
}

int ClientCodecImpl::onHeaderField(const char* data, size_t len) {
  if (auto v = collector_.onField(data, len); v != HeaderCollector::Verdict::Ok) {
    return fail(HeaderCollector::reasonFor(v));
  }
  return 0;
}

int ClientCodecImpl::onHeaderFieldComplete() {
  collector_.onFieldComplete();
  return 0;
}

int ClientCodecImpl::onHeaderValue(const char* data, size_t len) {
  if (auto v = collector_.onValue(data, len); v != HeaderCollector::Verdict::Ok) {
    return fail(HeaderCollector::reasonFor(v));
  }
  return 0;
}

int ClientCodecImpl::onHeaderValueComplete() {
  if (!in_trailers_) {
    trimInPlace(collector_.current().value);
  }
  return 0;
}

int ClientCodecImpl::onHeadersComplete() {
  in_trailers_ = true;
  collector_.reset(&trailers_);

  const uint16_t status = parser_.status_code;
  if (status >= 100 && status < 200 && status != 101) {
    // An interim response: llhttp parses it as a bodiless message and goes on to the next one.
    interim_ = true;
    return kProceed;
  }
  headers_.status = status;
  headers_.version_major = parser_.http_major;
  headers_.version_minor = parser_.http_minor;

  const bool no_body = request_head_ || status == 101 || status == 204 || status == 304;
  info_.upgrade = status == 101;
  info_.chunked = !no_body && (parser_.flags & F_CHUNKED) != 0;
  if ((parser_.flags & F_CONTENT_LENGTH) != 0) {
    info_.content_length = parser_.content_length;
  }
  // Without chunking or a length the body runs until the upstream closes (RFC 9112 6.3).
  const bool close_delimited =
      !no_body && (parser_.flags & F_CHUNKED) == 0 &&
      ((parser_.flags & F_TRANSFER_ENCODING) != 0 || (parser_.flags & F_CONTENT_LENGTH) == 0);
  info_.has_body = !no_body && (info_.chunked || close_delimited || parser_.content_length > 0);
  const bool http11 = parser_.http_major == 1 && parser_.http_minor >= 1;
  const bool persistent = http11 ? (parser_.flags & F_CONNECTION_CLOSE) == 0
                                 : (parser_.flags & F_CONNECTION_KEEP_ALIVE) != 0;
  info_.keep_alive = persistent && !close_delimited && !info_.upgrade;

  callbacks_.onResponseHeaders(headers_, info_);
  if (status == 101) {
    return kSkipBodyAndUpgrade;
  }
  if (request_head_) {
    // The response to HEAD describes a body it does not carry, content-length or not.
    return kSkipBody;
  }
  return kProceed;
}

int ClientCodecImpl::onBody(const char* data, size_t len) {
  callbacks_.onResponseBody(data, len);
  return 0;
}

int ClientCodecImpl::onMessageComplete() {
  if (interim_) {
    interim_ = false;
    return 0;
  }
  message_in_progress_ = false;
  completed_ = true;
  callbacks_.onResponseComplete();
  if (info_.upgrade) {
    return 0;
  }
  return HPE_PAUSED;
}

DispatchResult ClientCodecImpl::dispatch(const char* data, size_t len) {
  ParserRun run = runParser(parser_, collector_, state_, data, len);
  if (run.error != HPE_OK) {
    return reportError(run.error, run.result.consumed);
  }
  return run.result;
}

DispatchResult ClientCodecImpl::reportError(llhttp_errno_t err, size_t consumed) {
  state_ = ParserState::Errored;
  message_in_progress_ = false;
  callbacks_.onResponseError(error_reason_.empty() ? parserErrorReason(err) : error_reason_);
  return {DispatchResult::Status::Error, consumed};
}

bool ClientCodecImpl::onEof() {
  if (state_ != ParserState::Parsing) {
    // Nothing is mid-way: either reported already, a tunnel, or a completed response waiting.
    return false;
  }
  completed_ = false;
  llhttp_errno_t err = llhttp_finish(&parser_);
  if (completed_) {
    // A close-delimited body ended; the parser paused in on_message_complete.
    if (err == HPE_PAUSED) {
      state_ = ParserState::Paused;
    }
    return true;
  }
  if (message_in_progress_ || (err != HPE_OK && err != HPE_PAUSED)) {
    state_ = ParserState::Errored;
    message_in_progress_ = false;
    callbacks_.onResponseError("truncated_response");
  }
  return false;
}

void ClientCodecImpl::resume() {
  if (state_ == ParserState::Paused) {
    state_ = ParserState::Parsing;
    llhttp_resume(&parser_);
  }
}

std::unique_ptr<ClientCodec> createClientCodec(ClientCallbacks& callbacks) {
  return std::make_unique<ClientCodecImpl>(callbacks);
}

}  // namespace strait::http::http1
