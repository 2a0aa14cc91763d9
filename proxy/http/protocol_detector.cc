#include "proxy/http/protocol_detector.h"

#include "proxy/http/conn_manager.h"
#include "proxy/http/http2_conn_manager.h"
#include "proxy/network/connection_impl.h"

namespace strait::http {

void acceptConnection(WorkerContext& worker, const std::string& listener_name,
                      network::ConnectionPtr connection, ServerConnection::List& owner) {
  owner.push_back(
      std::make_unique<ProtocolDetector>(worker, listener_name, std::move(connection), owner));
  owner.back()->self_ = std::prev(owner.end());
}

ServerConnection& startServerConnection(DownstreamProtocol protocol,
                                        WorkerContext& worker,
                                        const std::string& listener_name,
                                        network::ConnectionPtr connection,
                                        ServerConnection::List& owner,
                                        ServerConnection::List::iterator slot) {
  std::unique_ptr<ServerConnection> manager;
  if (protocol == DownstreamProtocol::Http2) {
    manager = std::make_unique<Http2ConnectionManager>(worker, listener_name,
                                                       std::move(connection), owner);
  } else {
    manager = std::make_unique<ConnectionManager>(worker, listener_name, std::move(connection),
                                                  owner);
  }
  ServerConnection& ref = *manager;
  // The previous occupant (the detector) may be on the stack: it is deleted later.
  std::unique_ptr<ServerConnection> previous = std::move(*slot);
  *slot = std::move(manager);
  ref.self_ = slot;
  if (previous != nullptr) {
    worker.dispatcher.deferredDelete(std::move(previous));
  }
  return ref;
}

ProtocolDetector::ProtocolDetector(WorkerContext& worker,
                                   const std::string& listener_name,
                                   network::ConnectionPtr connection, List& owner)
    : ServerConnection(owner),
      worker_(worker),
      listener_name_(listener_name),
      connection_(std::move(connection)) {
  connection_->setCallbacks(*this);
  const ListenerRuntime* listener = worker_.snapshot->findListener(listener_name_);
  if (listener != nullptr) {
    idle_timer_ = worker_.dispatcher.createTimer([this]() { close(); });
    idle_timer_->enableTimer(listener->config.http.idle_timeout);
  }
}

ProtocolDetector::~ProtocolDetector() { network::releaseConnection(std::move(connection_)); }

void ProtocolDetector::onData(const char* data, size_t len) {
  if (done_) {
    return;
  }
  if (seen_.empty()) {
    // The common case: the first read decides, and its bytes go straight to the codec.
    switch (matchHttp2Preface(std::string_view(data, len))) {
      case PrefaceMatch::Http2:
        select(DownstreamProtocol::Http2, data, len);
        return;
      case PrefaceMatch::Http1:
        select(DownstreamProtocol::Http1, data, len);
        return;
      case PrefaceMatch::NeedMore:
        seen_.assign(data, len);
        return;
    }
  }
  seen_.append(data, len);
  switch (matchHttp2Preface(seen_)) {
    case PrefaceMatch::Http2:
      select(DownstreamProtocol::Http2, seen_.data(), seen_.size());
      return;
    case PrefaceMatch::Http1:
      select(DownstreamProtocol::Http1, seen_.data(), seen_.size());
      return;
    case PrefaceMatch::NeedMore:
      return;
  }
}

void ProtocolDetector::select(DownstreamProtocol protocol, const char* data, size_t len) {
  done_ = true;
  idle_timer_.reset();
  // `this` is deferred-deleted by startServerConnection(); `seen_` (which `data` may point
  // into) lives until then.
  ServerConnection& manager = startServerConnection(protocol, worker_, listener_name_,
                                                    std::move(connection_), owner_, self_);
  manager.feed(data, len);
}

void ProtocolDetector::onEvent(network::ConnectionEvent event) {
  if (event == network::ConnectionEvent::RemoteHalfClose ||
      event == network::ConnectionEvent::RemoteReset) {
    close();
  }
}

void ProtocolDetector::close() {
  if (done_) {
    return;
  }
  done_ = true;
  if (idle_timer_ != nullptr) {
    idle_timer_->disableTimer();  // may be running this very callback: not deleted here
  }
  // A connection that never said anything is still counted as accepted.
  if (const ListenerRuntime* listener = worker_.snapshot->findListener(listener_name_)) {
    worker_.shard.inc(listener->stats.cx_total);
  }
  connection_->close(network::CloseType::NoFlush);
  removeSelf(worker_.dispatcher);
}

}  // namespace strait::http
