#include "proxy/server/worker.h"

#include <unistd.h>

#include "proxy/http/accept_hooks.h"
#include "proxy/tls/tls_connection.h"
#include "strait/common/log.h"

namespace strait::server {

Worker::Worker(uint32_t index, stats::Store& store, TimeSource& time_source,
               accesslog::Writer* access_log, ProcessSignalsImpl* signals)
    : index_(index),
      store_(store),
      dispatcher_(time_source),
      clusters_(dispatcher_, random_, store.shard(index)),
      access_log_(access_log != nullptr ? std::make_unique<accesslog::WorkerLog>(*access_log)
                                        : nullptr),
      context_{dispatcher_, store.shard(index), random_, clusters_, nullptr, false, index,
               access_log_.get()},
      signals_(signals) {}

Worker::~Worker() { stop(); }

void Worker::start(SnapshotSharedPtr snapshot, std::vector<ListenSocket> sockets) {
  thread_ = std::thread(
      [this, snapshot = std::move(snapshot), sockets = std::move(sockets)]() mutable {
        run(std::move(snapshot), std::move(sockets));
      });
}

void Worker::run(SnapshotSharedPtr snapshot, std::vector<ListenSocket> sockets) {
  context_.snapshot = snapshot;
  clusters_.update(snapshot->clusters);
  for (auto& socket : sockets) {
    listen(std::move(socket));
  }
  // Periodic housekeeping: release drained cluster pools, publish the connection count.
  drain_check_ = dispatcher_.createTimer([this]() { checkDrained(); });
  drain_check_->enableTimer(std::chrono::milliseconds(100));
  if (signals_ != nullptr) {
    lag_timer_ = dispatcher_.createTimer([this]() { onLagTick(); });
    lag_due_ = dispatcher_.timeSource().monotonicTime() + LagMeter::kPeriod;
    lag_timer_->enableTimer(LagMeter::kPeriod);
  }
  dispatcher_.run();
  // Loop stopped: close everything this thread owns while the loop still exists, streams (and
  // their hold on pools) before the pools themselves.
  listeners_.clear();
  std::vector<http::ServerConnection*> all;
  for (auto& c : connections_) {
    all.push_back(c.get());
  }
  for (auto* c : all) {
    c->closeNow();
  }
  dispatcher_.clearDeferred();
  drain_check_.reset();
  lag_timer_.reset();
  clusters_.update({});
  context_.snapshot.reset();
  dispatcher_.clearDeferred();
}

void Worker::listen(ListenSocket socket) {
  std::string name = socket.listener_name;
  auto listener = std::make_unique<network::ListenerImpl>(
      dispatcher_, socket.fd, [this, name](network::ConnectionPtr connection) {
        const http::ListenerRuntime* runtime = context_.snapshot->findListener(name);
        if (runtime == nullptr) {
          // The config in force no longer has this listener (its removal is on its way).
          connection->close(network::CloseType::NoFlush);
          return;
        }
        // Accept hooks (e.g. the fault filter's connection faults) come first: they act
        // before TLS and before any byte is read, and may take the connection.
        if (!runtime->accept_hooks.empty()) {
          connection =
              http::applyAcceptHooks(context_, *runtime, std::move(connection), connections_);
          if (connection == nullptr) {
            connection_count_.store(connections_.size(), std::memory_order_relaxed);
            return;
          }
        }
        // TLS sits between the TCP connection and HTTP: the connection manager sees plaintext.
        if (runtime->tls != nullptr) {
          // The handshake gets the time a request head gets (http.request_headers_timeout).
          connection = tls::TlsConnection::server(
              runtime->tls, std::move(connection), dispatcher_, context_.shard,
              runtime->config.http.request_headers_timeout);
        }
        http::acceptConnection(context_, name, std::move(connection), connections_);
        connection_count_.store(connections_.size(), std::memory_order_relaxed);
      });
  if (!listener->ok()) {
    STRAIT_LOG(Error, "worker %u: listener %s: %s", index_, name.c_str(),
               listener->error().c_str());
    return;
  }
  listeners_.push_back(NamedListener{name, std::move(listener)});
}

void Worker::addListeners(std::vector<ListenSocket> sockets) {
  dispatcher_.post([this, sockets = std::move(sockets)]() mutable {
    if (context_.draining) {
      for (auto& socket : sockets) {
        ::close(socket.fd);
      }
      return;
    }
    for (auto& socket : sockets) {
      listen(std::move(socket));
    }
  });
}

void Worker::removeListener(const std::string& name) {
  dispatcher_.post([this, name]() {
    std::erase_if(listeners_, [&](const NamedListener& l) { return l.name == name; });
  });
}

void Worker::checkDrained() {
  clusters_.collectDrained();
  connection_count_.store(connections_.size(), std::memory_order_relaxed);
  if (on_drained_ && connections_.empty()) {
    auto cb = std::move(on_drained_);
    on_drained_ = nullptr;
    cb();
  }
  drain_check_->enableTimer(std::chrono::milliseconds(on_drained_ ? 20 : 100));
}

void Worker::updateSnapshot(SnapshotSharedPtr snapshot) {
  dispatcher_.post([this, snapshot = std::move(snapshot)]() {
    context_.snapshot = snapshot;
    clusters_.update(snapshot->clusters);
  });
}

void Worker::startDrain(std::function<void()> on_idle) {
  dispatcher_.post([this, on_idle = std::move(on_idle)]() mutable {
    context_.draining = true;
    listeners_.clear();
    std::vector<http::ServerConnection*> all;
    for (auto& c : connections_) {
      all.push_back(c.get());
    }
    for (auto* c : all) {
      c->startDrain();
    }
    on_drained_ = std::move(on_idle);
    drain_check_->enableTimer(std::chrono::milliseconds(0));
  });
}

void Worker::stop() {
  if (thread_.joinable()) {
    dispatcher_.exit();
    thread_.join();
  }
}

void Worker::onLagTick() {
  // The real clock, not the loop's cached time: the lateness is what a stream on this loop waits.
  const MonotonicTime now = dispatcher_.timeSource().monotonicTime();
  signals_->setEventLoopLag(index_, lag_meter_.onTick(lag_due_, now));
  lag_due_ = now + LagMeter::kPeriod;
  lag_timer_->enableTimer(LagMeter::kPeriod);
}

}  // namespace strait::server
