#include "proxy/tls/tls_connection.h"

#include <openssl/err.h>

#include <cstring>

#include "proxy/network/connection_impl.h"
#include "strait/common/log.h"

namespace strait::tls {

namespace {

constexpr size_t kRecordSize = 16 * 1024;
constexpr size_t kMaxSlices = 64;

// Plaintext scratch space, one pair per thread: decrypted records are handed up from the read
// buffer (the callee copies what it keeps), and small write slices are gathered into full records
// in the write buffer. Two buffers, because the callee of a read may write (a local reply) while
// the bytes it was handed are still being parsed.
thread_local char tls_read_buffer[kRecordSize];
thread_local char tls_write_buffer[kRecordSize];

}  // namespace

network::ConnectionPtr TlsConnection::server(ServerContextSharedPtr context,
                                             network::ConnectionPtr transport,
                                             event::DispatcherImpl& dispatcher,
                                             stats::Shard& shard,
                                             std::chrono::milliseconds handshake_timeout) {
  std::unique_ptr<TlsConnection> connection(
      new TlsConnection(std::move(transport), dispatcher, false));
  if (handshake_timeout.count() > 0) {
    TlsConnection* raw = connection.get();
    connection->handshake_timer_ = dispatcher.createTimer([raw]() {
      if (raw->handshake_ == Handshake::Pending && !raw->closed_) {
        raw->onHandshakeFailed("TLS handshake timeout", 0);
      }
    });
    connection->handshake_timer_->enableTimer(handshake_timeout);
  }
  connection->shard_ = &shard;
  connection->ssl_ = context->newSsl(connection->handshake_info_);
  connection->server_context_ = std::move(context);
  if (connection->ssl_ != nullptr) {
    connection->rbio_ = BIO_new(BIO_s_mem());
    connection->wbio_ = BIO_new(BIO_s_mem());
    if (connection->rbio_ != nullptr && connection->wbio_ != nullptr) {
      SSL_set_bio(connection->ssl_.get(), connection->rbio_, connection->wbio_);
    } else {
      BIO_free(connection->rbio_);
      BIO_free(connection->wbio_);
      connection->rbio_ = connection->wbio_ = nullptr;
      connection->ssl_.reset();
    }
  }
  if (connection->ssl_ == nullptr) {
    connection->failure_reason_ = "TLS: cannot create a session: " + drainErrors();
    connection->handshake_ = Handshake::Failed;
  }
  return connection;
}

network::ConnectionPtr TlsConnection::client(ClientContextSharedPtr context,
                                             network::ConnectionPtr transport,
                                             event::DispatcherImpl& dispatcher,
                                             const std::string& address) {
  std::unique_ptr<TlsConnection> connection(
      new TlsConnection(std::move(transport), dispatcher, true));
  connection->ssl_ = context->newSsl(address);
  connection->client_context_ = std::move(context);
  if (connection->ssl_ != nullptr) {
    connection->rbio_ = BIO_new(BIO_s_mem());
    connection->wbio_ = BIO_new(BIO_s_mem());
    if (connection->rbio_ != nullptr && connection->wbio_ != nullptr) {
      SSL_set_bio(connection->ssl_.get(), connection->rbio_, connection->wbio_);
    } else {
      BIO_free(connection->rbio_);
      BIO_free(connection->wbio_);
      connection->rbio_ = connection->wbio_ = nullptr;
      connection->ssl_.reset();
    }
  }
  if (connection->ssl_ == nullptr) {
    connection->failure_reason_ = "TLS: cannot create a session: " + drainErrors();
    connection->handshake_ = Handshake::Failed;
  }
  return connection;
}

TlsConnection::TlsConnection(network::ConnectionPtr transport, event::DispatcherImpl& dispatcher,
                             bool client)
    : transport_(std::move(transport)), dispatcher_(dispatcher), client_(client) {
  transport_->setCallbacks(*this);
}

TlsConnection::~TlsConnection() {
  resume_timer_.reset();
  handshake_timer_.reset();
  if (ssl_ != nullptr && handshake_ == Handshake::Done && failure_reason_.empty()) {
    // OpenSSL drops a session from the cache when its SSL is freed without a shutdown; a
    // connection that ended normally (even without close_notify) keeps its session resumable.
    SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  // The TCP connection may still be flushing our last records (and a close_notify) and
  // lingering; it finishes that on its own.
  network::releaseConnection(std::move(transport_));
}

network::Connection::State TlsConnection::state() const {
  if (closed_) {
    return transport_->state() == State::Closing ? State::Closing : State::Closed;
  }
  State transport = transport_->state();
  if (transport == State::Open && client_ && handshake_ != Handshake::Done) {
    return State::Connecting;
  }
  return transport;
}

size_t TlsConnection::bufferedBytes() const {
  return pending_plain_.length() + transport_->bufferedBytes();
}

void TlsConnection::setWriteBufferLimits(size_t high_watermark) {
  transport_->setWriteBufferLimits(high_watermark);
}

const std::string& TlsConnection::failureReason() const {
  return failure_reason_.empty() ? transport_->failureReason() : failure_reason_;
}

// ---- writing --------------------------------------------------------------------------------

void TlsConnection::write(buffer::Buffer& data) {
  if (closed_ || shutdown_sent_ || handshake_ == Handshake::Failed) {
    data.clear();
    return;
  }
  if (handshake_ != Handshake::Done) {
    pending_plain_.move(data);
    return;
  }
  encrypt(data);
  flushToTransport();
}

void TlsConnection::encrypt(buffer::Buffer& data) {
  buffer::RawSlice slices[kMaxSlices];
  while (!data.empty() && !closed_) {
    size_t n = data.frontSlices(slices, kMaxSlices);
    size_t consumed = 0;
    for (size_t i = 0; i < n && !closed_; i++) {
      const char* bytes = slices[i].data;
      size_t len = slices[i].len;
      if (len < kRecordSize) {
        // Gather small slices (a response head, a short body) into one record.
        size_t gathered = 0;
        while (i < n && gathered + slices[i].len <= kRecordSize) {
          std::memcpy(tls_write_buffer + gathered, slices[i].data, slices[i].len);
          gathered += slices[i].len;
          i++;
        }
        i--;
        bytes = tls_write_buffer;
        len = gathered;
      }
      // A memory BIO always takes everything, so SSL_write never writes partially.
      if (len > 0 && SSL_write(ssl_.get(), bytes, static_cast<int>(len)) <= 0) {
        fatal("TLS write failed: " + drainErrors());
        data.clear();
        return;
      }
      consumed += len;
    }
    data.drain(consumed);
  }
}

void TlsConnection::flushToTransport() {
  if (wbio_ == nullptr) {
    return;
  }
  char* bytes = nullptr;
  long len = BIO_get_mem_data(wbio_, &bytes);
  if (len <= 0) {
    return;
  }
  buffer::Buffer out;
  out.add(bytes, static_cast<size_t>(len));
  (void)BIO_reset(wbio_);
  transport_->write(out);
}

// ---- reading and the handshake --------------------------------------------------------------

void TlsConnection::onData(const char* data, size_t len) {
  if (closed_ || rbio_ == nullptr) {
    return;
  }
  if (BIO_write(rbio_, data, static_cast<int>(len)) != static_cast<int>(len)) {
    fatal("TLS: out of memory buffering input");
    return;
  }
  process();
}

void TlsConnection::process() {
  if (handshake_ == Handshake::Pending && !doHandshake()) {
    return;
  }
  if (handshake_ == Handshake::Done) {
    readPlaintext();
    flushToTransport();  // session tickets, key updates, alerts
  }
}

bool TlsConnection::doHandshake() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_.get());
  if (rc == 1) {
    flushToTransport();
    onHandshakeDone();
    return handshake_ == Handshake::Done && !closed_;
  }
  int err = SSL_get_error(ssl_.get(), rc);
  unsigned long first = ERR_peek_error();
  flushToTransport();  // our flight, or the alert
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    return false;
  }
  std::string reason;
  if (client_ && SSL_get_verify_result(ssl_.get()) != X509_V_OK) {
    long verify = SSL_get_verify_result(ssl_.get());
    reason = std::string("TLS handshake failed: certificate verify failed: ") +
             X509_verify_cert_error_string(verify);
    ERR_clear_error();
  } else if (handshake_info_.verify_failed) {
    reason = "TLS handshake failed: client certificate rejected: " + handshake_info_.verify_detail;
    ERR_clear_error();
  } else {
    reason = "TLS handshake failed: " + drainErrors();
  }
  onHandshakeFailed(reason, first);
  return false;
}

void TlsConnection::onHandshakeDone() {
  handshake_ = Handshake::Done;
  handshake_timer_.reset();
  SSL* ssl = ssl_.get();
  tls_info_.version = SSL_get_version(ssl);
  tls_info_.resumed = SSL_session_reused(ssl) == 1;
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  tls_info_.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name); name != nullptr) {
    tls_info_.server_name = name;
  }
  if (!client_) {
    const auto& stats = server_context_->stats();
    shard_->inc(stats.handshakes);
    if (tls_info_.resumed) {
      shard_->inc(stats.resumed);
    }
    tls_info_.local_principal = server_context_->localPrincipal(handshake_info_.certificate);
    if (X509* peer = SSL_get0_peer_certificate(ssl); peer != nullptr) {
      tls_info_.peer_certificate_sha256 = certificateSha256(peer);
      // A resumed session skips verification: the identity verified when the session was
      // made is the one in its certificate.
      tls_info_.peer_principal = handshake_info_.peer_principal;
      if (tls_info_.peer_principal.empty() && server_context_->verifiesClients()) {
        for (const auto& uri : uriSans(peer)) {
          tls_info_.peer_principal = uri;
        }
      }
    }
  }
  if (client_ && callbacks_ != nullptr) {
    callbacks_->onEvent(network::ConnectionEvent::Connected);
    if (closed_) {
      return;
    }
  }
  if (!pending_plain_.empty()) {
    encrypt(pending_plain_);
    flushToTransport();
  }
}

void TlsConnection::onHandshakeFailed(const std::string& reason, unsigned long error) {
  handshake_ = Handshake::Failed;
  handshake_timer_.reset();
  failure_reason_ = reason;
  pending_plain_.clear();
  if (!client_) {
    HandshakeFailure why = ServerContext::classify(error, handshake_info_);
    shard_->inc(server_context_->stats().failures[static_cast<size_t>(why)]);
    STRAIT_LOG(Debug, "downstream %s: %s (%s)", transport_->remoteAddressAndPort().c_str(),
               reason.c_str(), handshakeFailureName(why));
  }
  closed_ = true;
  transport_->close(network::CloseType::FlushWrite);  // the alert goes out first
  if (callbacks_ != nullptr) {
    callbacks_->onEvent(client_ ? network::ConnectionEvent::ConnectFailed
                                : network::ConnectionEvent::RemoteReset);
  }
}

void TlsConnection::readPlaintext() {
  while (!closed_ && transport_->readEnabled()) {
    ERR_clear_error();
    int n = SSL_read(ssl_.get(), tls_read_buffer, static_cast<int>(kRecordSize));
    if (n > 0) {
      callbacks_->onData(tls_read_buffer, static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      return;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      // close_notify: the peer will send nothing more.
      if (!half_close_reported_) {
        half_close_reported_ = true;
        callbacks_->onEvent(network::ConnectionEvent::RemoteHalfClose);
      }
      return;
    }
    fatal("TLS read failed: " + drainErrors());
    return;
  }
}

void TlsConnection::fatal(const std::string& reason) {
  if (closed_) {
    return;
  }
  failure_reason_ = reason;
  closed_ = true;
  flushToTransport();
  transport_->close(network::CloseType::NoFlush);
  if (callbacks_ != nullptr) {
    callbacks_->onEvent(network::ConnectionEvent::RemoteReset);
  }
}

void TlsConnection::readDisable(bool disable) {
  transport_->readDisable(disable);
  if (disable || !transport_->readEnabled() || closed_ || handshake_ != Handshake::Done) {
    return;
  }
  // Records may have arrived (and been decrypted into OpenSSL's buffer) while reading was
  // stopped: deliver them from the loop, not from inside the caller.
  if (SSL_pending(ssl_.get()) > 0 || BIO_ctrl_pending(rbio_) > 0) {
    if (resume_timer_ == nullptr) {
      resume_timer_ = dispatcher_.createTimer([this]() {
        if (!closed_ && handshake_ == Handshake::Done) {
          process();
        }
      });
    }
    resume_timer_->enableTimer(std::chrono::milliseconds(0));
  }
}

// ---- events from the TCP connection ---------------------------------------------------------

void TlsConnection::onEvent(network::ConnectionEvent event) {
  switch (event) {
    case network::ConnectionEvent::Connected:
      if (handshake_ == Handshake::Failed) {
        closed_ = true;
        transport_->close(network::CloseType::NoFlush);
        callbacks_->onEvent(network::ConnectionEvent::ConnectFailed);
        return;
      }
      doHandshake();  // sends the ClientHello
      return;
    case network::ConnectionEvent::ConnectFailed:
      closed_ = true;
      callbacks_->onEvent(event);
      return;
    case network::ConnectionEvent::RemoteHalfClose:
      if (closed_) {
        return;
      }
      if (handshake_ == Handshake::Pending) {
        // The peer went away mid-handshake. A connection that never sent a byte (a port probe)
        // is not a failed handshake.
        if (transport_->bytesReceived() > 0 || client_) {
          onHandshakeFailed("TLS handshake failed: connection closed by peer", 0);
        } else {
          closed_ = true;
          transport_->close(network::CloseType::NoFlush);
          callbacks_->onEvent(network::ConnectionEvent::RemoteReset);
        }
        return;
      }
      if (handshake_ == Handshake::Failed) {
        closed_ = true;
        transport_->close(network::CloseType::NoFlush);
        callbacks_->onEvent(network::ConnectionEvent::RemoteReset);
        return;
      }
      // Without close_notify this may be a truncation; HTTP/1.1 framing above decides.
      if (!half_close_reported_) {
        half_close_reported_ = true;
        callbacks_->onEvent(event);
      }
      return;
    case network::ConnectionEvent::RemoteReset:
      if (closed_) {
        return;
      }
      if (handshake_ == Handshake::Pending && (client_ || transport_->bytesReceived() > 0)) {
        onHandshakeFailed("TLS handshake failed: " + transport_->failureReason(), 0);
        return;
      }
      closed_ = true;
      callbacks_->onEvent(client_ && handshake_ != Handshake::Done
                              ? network::ConnectionEvent::ConnectFailed
                              : event);
      return;
  }
}

void TlsConnection::onAboveWriteBufferHighWatermark() {
  if (callbacks_ != nullptr) {
    callbacks_->onAboveWriteBufferHighWatermark();
  }
}

void TlsConnection::onBelowWriteBufferLowWatermark() {
  if (callbacks_ != nullptr) {
    callbacks_->onBelowWriteBufferLowWatermark();
  }
}

void TlsConnection::close(network::CloseType type) {
  if (closed_) {
    // After a failed handshake the TCP connection is already flushing the alert (bounded by its
    // linger timeout); a NoFlush from the layer above must not cut it off.
    if (type != network::CloseType::FlushWrite && handshake_ != Handshake::Failed) {
      transport_->close(type);
    }
    return;
  }
  closed_ = true;
  pending_plain_.clear();
  if (type == network::CloseType::FlushWrite && handshake_ == Handshake::Done && !shutdown_sent_) {
    shutdown_sent_ = true;
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // queues close_notify
    ERR_clear_error();
    flushToTransport();
  }
  transport_->close(type);
}

}  // namespace strait::tls
