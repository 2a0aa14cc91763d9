#include "proxy/discovery/discovery_client.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <deque>

#include "strait/common/log.h"

namespace strait::discovery {

namespace {

constexpr char kPath[] = "/v1/discovery";

nghttp2_nv header(const char* name, const std::string& value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
                    std::strlen(name), value.size(), NGHTTP2_NV_FLAG_NONE};
}

template <typename T>
void closeAndDelete(T* handle) {
  uv_close(reinterpret_cast<uv_handle_t*>(handle),
           [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
}

}  // namespace

// One TCP connection and its HTTP/2 session. Destroyed (deferred to a fresh loop turn, since it
// may be inside its own callbacks) when it fails; the client then schedules the next attempt.
class DiscoveryClient::Connection {
 public:
  explicit Connection(DiscoveryClient& client) : client_(client) {}

  ~Connection() {
    if (session_ != nullptr) {
      nghttp2_session_del(session_);
    }
    if (tcp_ != nullptr) {
      tcp_->data = nullptr;
      closeAndDelete(tcp_);
    }
  }

  void start() {
    auto* request = new uv_getaddrinfo_t;
    request->data = this;
    resolving_ = request;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(
        client_.loop_, request,
        [](uv_getaddrinfo_t* req, int status, addrinfo* result) {
          auto* self = static_cast<Connection*>(req->data);
          delete req;
          if (self == nullptr) {  // abandoned while resolving
            uv_freeaddrinfo(result);
            return;
          }
          self->resolving_ = nullptr;
          self->onResolved(status, result);
          uv_freeaddrinfo(result);
        },
        client_.options_.host.c_str(), std::to_string(client_.options_.port).c_str(), &hints);
    if (rc != 0) {
      delete request;
      resolving_ = nullptr;
      fail(std::string("resolve: ") + uv_strerror(rc));
    }
  }

  // The client lets go of this connection while a lookup may still be pending.
  void abandon() {
    if (resolving_ != nullptr) {
      resolving_->data = nullptr;
      resolving_ = nullptr;
    }
    failed_ = true;
  }

  // Queues one request line on the stream's body.
  void send(const config::DiscoveryRequest& request) { sendLine(config::serialize(request)); }

  void sendLine(const std::string& line) {
    outbound_ += line;
    outbound_.push_back('\n');
    if (session_ != nullptr && stream_id_ > 0) {
      nghttp2_session_resume_data(session_, stream_id_);
      flush();
    }
  }

 private:
  void onResolved(int status, addrinfo* result) {
    if (status != 0 || result == nullptr) {
      fail(std::string("resolve ") + client_.options_.host + ": " + uv_strerror(status));
      return;
    }
    tcp_ = new uv_tcp_t;
    uv_tcp_init(client_.loop_, tcp_);
    tcp_->data = this;
    uv_tcp_nodelay(tcp_, 1);
    auto* request = new uv_connect_t;
    int rc = uv_tcp_connect(request, tcp_, result->ai_addr, [](uv_connect_t* req, int status) {
      auto* stream = reinterpret_cast<uv_tcp_t*>(req->handle);
      delete req;
      auto* self = static_cast<Connection*>(stream->data);
      if (self != nullptr) {
        self->onConnected(status);
      }
    });
    if (rc != 0) {
      delete request;
      fail(std::string("connect: ") + uv_strerror(rc));
    }
  }

  void onConnected(int status) {
    if (status != 0) {
      fail(std::string("connect: ") + uv_strerror(status));
      return;
    }
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(tcp_),
        [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
          buf->base = new char[suggested];
          buf->len = suggested;
        },
        [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
          auto* self = static_cast<Connection*>(stream->data);
          if (self != nullptr) {
            self->onRead(nread, buf);
          }
          delete[] buf->base;
        });
    if (client_.options_.tls == nullptr) {
      startSession();
      return;
    }
    ssl_ = client_.options_.tls->newSsl(client_.options_.host);
    if (ssl_ == nullptr) {
      fail("TLS: " + tls::drainErrors());
      return;
    }
    // Memory BIOs: the loop moves the bytes, OpenSSL only transforms them.
    rbio_ = BIO_new(BIO_s_mem());
    wbio_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_.get(), rbio_, wbio_);
    SSL_set_connect_state(ssl_.get());
    handshake();
  }

  // Advances the TLS handshake; once done (h2 negotiated), the HTTP/2 session starts.
  void handshake() {
    int rc = SSL_do_handshake(ssl_.get());
    writeTls();
    if (rc == 1) {
      const unsigned char* alpn = nullptr;
      unsigned int alpn_len = 0;
      SSL_get0_alpn_selected(ssl_.get(), &alpn, &alpn_len);
      if (std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) != "h2") {
        fail("TLS: strait-cp did not negotiate h2 (ALPN)");
        return;
      }
      handshaken_ = true;
      startSession();
      return;
    }
    int error = SSL_get_error(ssl_.get(), rc);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
      std::string why = tls::drainErrors();
      long verify = SSL_get_verify_result(ssl_.get());
      if (verify != X509_V_OK) {
        why = X509_verify_cert_error_string(verify);
      }
      fail("TLS handshake: " + (why.empty() ? std::string("failed") : why));
    }
  }

  // Sends what OpenSSL produced.
  void writeTls() {
    std::string out;
    char chunk[16384];
    int n;
    while ((n = BIO_read(wbio_, chunk, sizeof(chunk))) > 0) {
      out.append(chunk, static_cast<size_t>(n));
    }
    writeRaw(std::move(out));
  }

  void startSession() {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        callbacks, [](nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                      size_t len, void* user) {
          auto* self = static_cast<Connection*>(user);
          if (stream_id != self->stream_id_) {
            return 0;
          }
          if (self->status_ == "200") {
            self->inbound_.append(reinterpret_cast<const char*>(data), len);
          } else if (self->refusal_.size() < 1024) {
            self->refusal_.append(reinterpret_cast<const char*>(data), len);  // its reason
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_header_callback(
        callbacks, [](nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
          auto* self = static_cast<Connection*>(user);
          if (frame->hd.stream_id == self->stream_id_ &&
              std::string_view(reinterpret_cast<const char*>(name), namelen) == ":status") {
            self->status_ = std::string(reinterpret_cast<const char*>(value), valuelen);
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        callbacks, [](nghttp2_session*, const nghttp2_frame* frame, void* user) {
          auto* self = static_cast<Connection*>(user);
          if (frame->hd.stream_id == self->stream_id_ &&
              (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
              (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS)) {
            self->ended(0);  // strait-cp ended its side: this stream brings nothing more

          }
          if (frame->hd.type == NGHTTP2_HEADERS && frame->hd.stream_id == self->stream_id_ &&
              frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
            if (self->status_ == "200") {
              self->client_.onStreaming();
            } else {
              self->error_ = "strait-cp answered " + self->status_;
            }
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        callbacks, [](nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
          auto* self = static_cast<Connection*>(user);
          if (stream_id == self->stream_id_) {
            self->ended(error_code);
          }
          return 0;
        });
    nghttp2_session_client_new(&session_, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1},
                                         {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, 1 << 26);
    std::string authority = client_.options_.host + ":" + std::to_string(client_.options_.port);
    std::string method = "POST";
    std::string scheme = "http";
    std::string path = kPath;
    std::string content_type = "application/x-ndjson";
    nghttp2_nv headers[] = {header(":method", method), header(":scheme", scheme),
                            header(":authority", authority), header(":path", path),
                            header("content-type", content_type)};
    nghttp2_data_provider provider{};
    provider.source.ptr = this;
    provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                                uint32_t* flags, nghttp2_data_source* source,
                                void*) -> ssize_t {
      auto* self = static_cast<Connection*>(source->ptr);
      if (self->outbound_.empty()) {
        return NGHTTP2_ERR_DEFERRED;  // resumed by send()
      }
      size_t n = std::min(length, self->outbound_.size());
      std::memcpy(buf, self->outbound_.data(), n);
      self->outbound_.erase(0, n);
      *flags = NGHTTP2_DATA_FLAG_NONE;
      return static_cast<ssize_t>(n);
    };
    stream_id_ = nghttp2_submit_request(session_, nullptr, headers, 5, &provider, nullptr);
    if (stream_id_ < 0) {
      fail("submit: " + std::string(nghttp2_strerror(stream_id_)));
      return;
    }
    // The first request of every type: the versions the proxy runs now.
    for (config::ResourceType type : client_.options_.types) {
      config::DiscoveryRequest request;
      request.node = client_.options_.node;
      request.type = type;
      request.version_info = client_.version_(type);
      send(request);
    }
    flush();
  }

  // The stream is over (`error_code` 0: strait-cp ended it): why, with a refusal's reason.
  void ended(uint32_t error_code) {
    if (stream_closed_) {
      return;
    }
    stream_closed_ = true;
    if (!refusal_.empty()) {
      while (!refusal_.empty() && refusal_.back() == '\n') {
        refusal_.pop_back();
      }
      error_ += ": " + refusal_;
      refusal_.clear();
    }
    if (error_.empty()) {
      error_ = error_code == 0
                   ? "strait-cp ended the stream"
                   : std::string("stream reset: ") + nghttp2_http2_strerror(error_code);
    }
  }

  void onRead(ssize_t nread, const uv_buf_t* buf) {
    if (failed_) {
      return;
    }
    if (nread < 0) {
      fail(nread == UV_EOF ? "strait-cp closed the connection"
                           : std::string("read: ") + uv_strerror(static_cast<int>(nread)));
      return;
    }
    if (ssl_ == nullptr) {
      onPlaintext(buf->base, static_cast<size_t>(nread));
      return;
    }
    BIO_write(rbio_, buf->base, static_cast<int>(nread));
    if (!handshaken_) {
      handshake();
      if (failed_ || !handshaken_) {
        return;
      }
    }
    std::string plain;
    char chunk[16384];
    int n;
    while ((n = SSL_read(ssl_.get(), chunk, sizeof(chunk))) > 0) {
      plain.append(chunk, static_cast<size_t>(n));
    }
    int error = SSL_get_error(ssl_.get(), n);
    if (error == SSL_ERROR_ZERO_RETURN) {
      fail("strait-cp closed the TLS session");
      return;
    }
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
      fail("TLS: " + tls::drainErrors());
      return;
    }
    writeTls();  // (a TLS 1.3 key update or ticket may want an answer)
    if (!plain.empty()) {
      onPlaintext(plain.data(), plain.size());
    }
  }

  void onPlaintext(const char* data, size_t len) {
    if (session_ == nullptr) {
      return;
    }
    ssize_t rc = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), len);
    if (rc < 0) {
      fail(std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(rc)));
      return;
    }
    // Every complete line that arrived in this read is applied as one batch.
    std::vector<config::DiscoveryResponse> batch;
    size_t start = 0;
    size_t newline;
    while ((newline = inbound_.find('\n', start)) != std::string::npos) {
      std::string_view line(inbound_.data() + start, newline - start);
      start = newline + 1;
      if (line.empty()) {
        continue;
      }
      std::string error;
      std::optional<config::DiscoveryResponse> response = config::parseResponse(line, error);
      if (!response.has_value()) {
        client_.stats_.bad_responses++;
        STRAIT_LOG(Warn, "discovery: ignored a line from strait-cp: %s", error.c_str());
        continue;
      }
      batch.push_back(std::move(*response));
    }
    inbound_.erase(0, start);
    if (inbound_.size() > config::kMaxMessageBytes) {
      fail("a response line over the size limit");
      return;
    }
    if (!batch.empty()) {
      client_.onResponses(std::move(batch));  // (sends the ACKs/NACKs through send())
    }
    if (failed_) {
      return;
    }
    if (stream_closed_) {  // (a refusal's reason is its body: read until the stream ends)
      fail(error_);
      return;
    }
    flush();
  }

  void flush() {
    if (failed_ || session_ == nullptr) {
      return;
    }
    std::string out;
    const uint8_t* data = nullptr;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(session_, &data)) > 0) {
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (n < 0) {
      fail(std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(n)));
      return;
    }
    if (out.empty()) {
      return;
    }
    if (ssl_ != nullptr) {
      if (SSL_write(ssl_.get(), out.data(), static_cast<int>(out.size())) <= 0) {
        fail("TLS write: " + tls::drainErrors());
        return;
      }
      writeTls();
      return;
    }
    writeRaw(std::move(out));
  }

  void writeRaw(std::string out) {
    if (out.empty() || failed_) {
      return;
    }
    struct Write {
      uv_write_t request;
      std::string data;
    };
    auto* write = new Write;
    write->data = std::move(out);
    uv_buf_t buf = uv_buf_init(write->data.data(), static_cast<unsigned>(write->data.size()));
    int rc = uv_write(&write->request, reinterpret_cast<uv_stream_t*>(tcp_), &buf, 1,
                      [](uv_write_t* req, int) { delete reinterpret_cast<Write*>(req); });
    if (rc != 0) {
      delete write;
      fail(std::string("write: ") + uv_strerror(rc));
    }
  }

  void fail(const std::string& why) {
    if (failed_) {
      return;
    }
    failed_ = true;
    client_.scheduleReconnect(why.empty() ? "connection lost" : why);
  }

  DiscoveryClient& client_;
  uv_getaddrinfo_t* resolving_ = nullptr;
  uv_tcp_t* tcp_ = nullptr;
  nghttp2_session* session_ = nullptr;
  tls::SslPtr ssl_;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  bool handshaken_ = false;
  int32_t stream_id_ = -1;
  std::string status_;
  std::string error_;
  std::string outbound_;
  std::string inbound_;
  std::string refusal_;  // the body of a response other than 200
  bool stream_closed_ = false;
  bool failed_ = false;
};

DiscoveryClient::DiscoveryClient(uv_loop_t* loop, ClientOptions options, RandomGenerator& random,
                                 ApplyFn apply, VersionFn version)
    : loop_(loop),
      options_(std::move(options)),
      random_(random),
      apply_(std::move(apply)),
      version_(std::move(version)) {}

DiscoveryClient::~DiscoveryClient() { stop(); }

void DiscoveryClient::start() {
  stopped_ = false;
  retry_timer_ = new uv_timer_t;
  uv_timer_init(loop_, retry_timer_);
  retry_timer_->data = this;
  settle_timer_ = new uv_timer_t;
  uv_timer_init(loop_, settle_timer_);
  settle_timer_->data = this;
  connect();
}

void DiscoveryClient::stop() {
  stopped_ = true;
  if (connection_ != nullptr) {
    connection_->abandon();
    connection_.reset();
  }
  for (uv_timer_t** timer : {&retry_timer_, &settle_timer_}) {
    if (*timer != nullptr) {
      uv_timer_stop(*timer);
      closeAndDelete(*timer);
      *timer = nullptr;
    }
  }
  streaming_ = false;
}

bool DiscoveryClient::sendReport(const std::string& line) {
  if (!streaming_ || connection_ == nullptr) {
    return false;
  }
  connection_->sendLine(line);
  stats_.reports++;
  return true;
}

void DiscoveryClient::connect() {
  stats_.connect_attempts++;
  connection_ = std::make_unique<Connection>(*this);
  connection_->start();
}

void DiscoveryClient::onStreaming() {
  streaming_ = true;
  stats_.connects++;
  failures_ = 0;
  last_error_.clear();
  STRAIT_LOG(Info, "discovery: streaming from strait-cp at %s:%u", options_.host.c_str(),
             options_.port);
  if (options_.on_connected) {
    options_.on_connected(true);
  }
}

void DiscoveryClient::scheduleReconnect(const std::string& why) {
  if (streaming_) {
    stats_.disconnects++;
    STRAIT_LOG(Warn, "discovery: lost strait-cp (%s); serving the last applied config",
               why.c_str());
    if (options_.on_connected) {
      options_.on_connected(false);
    }
  } else if (failures_ == 0) {
    STRAIT_LOG(Warn, "discovery: cannot reach strait-cp at %s:%u (%s); retrying",
               options_.host.c_str(), options_.port, why.c_str());
  }
  streaming_ = false;
  last_error_ = why;
  // A new stream starts a fresh session: what waited here is sent again if still current.
  waiting_.clear();
  waiting_errors_.clear();
  if (stopped_) {
    return;
  }
  uv_timer_stop(settle_timer_);
  // base · 2^failures, capped, then a random point in [50%, 100%] of it (jitter: proxies that
  // lost the same control plane do not come back in step).
  uint64_t delay = options_.backoff_base_ms << std::min<uint32_t>(failures_, 16);
  delay = std::min(delay, options_.backoff_max_ms);
  delay = delay / 2 + random_.bounded(delay / 2 + 1);
  failures_++;
  uv_timer_start(
      retry_timer_,
      [](uv_timer_t* timer) {
        auto* self = static_cast<DiscoveryClient*>(timer->data);
        if (self->connection_ != nullptr) {
          self->connection_->abandon();
        }
        self->connection_.reset();  // (not inside its own callbacks any more)
        self->connect();
      },
      delay, 0);
}

void DiscoveryClient::onResponses(std::vector<config::DiscoveryResponse> responses) {
  stats_.responses += responses.size();
  // What waits from earlier reads is tried again with what just came, in arrival order (push
  // order: clusters before their endpoints, listeners before their routes).
  std::vector<config::DiscoveryResponse> batch = std::move(waiting_);
  waiting_.clear();
  waiting_errors_.clear();
  for (auto& response : responses) {
    batch.push_back(std::move(response));
  }
  std::vector<std::string> errors = apply_(batch);
  for (size_t i = 0; i < batch.size(); i++) {
    if (i < errors.size() && !errors[i].empty()) {
      waiting_.push_back(std::move(batch[i]));
      waiting_errors_.push_back(errors[i]);
    } else {
      answer(batch[i], "");
    }
  }
  if (!waiting_.empty()) {
    uv_timer_start(
        settle_timer_,
        [](uv_timer_t* timer) { static_cast<DiscoveryClient*>(timer->data)->nackWaiting(); },
        options_.settle_ms, 0);
  } else {
    uv_timer_stop(settle_timer_);
  }
}

void DiscoveryClient::nackWaiting() {
  std::vector<config::DiscoveryResponse> waiting = std::move(waiting_);
  std::vector<std::string> errors = std::move(waiting_errors_);
  waiting_.clear();
  waiting_errors_.clear();
  // The rest of the push did not come: each is tried alone one last time, then answered.
  for (size_t i = 0; i < waiting.size(); i++) {
    std::vector<std::string> last = apply_({waiting[i]});
    answer(waiting[i], last.empty() ? errors[i] : last[0]);
  }
}

void DiscoveryClient::answer(const config::DiscoveryResponse& response, const std::string& error) {
  config::DiscoveryRequest request;
  request.node = options_.node;
  request.type = response.type;
  request.response_nonce = response.nonce;
  if (!error.empty()) {
    request.version_info = version_(response.type);  // the last good one
    request.error_detail = config::ErrorDetail{3, error};
  } else {
    request.version_info = response.version_info;
  }
  if (options_.on_answered) {
    options_.on_answered(response.type, error);
  }
  if (connection_ != nullptr) {
    connection_->send(request);
  }
}

}  // namespace strait::discovery
