#include "proxy/http/accept_hooks.h"

#include "proxy/http/access_log_emit.h"
#include "proxy/network/connection_impl.h"

namespace strait::http {

network::ConnectionPtr applyAcceptHooks(WorkerContext& worker,
                                        const ListenerRuntime& listener,
                                        network::ConnectionPtr connection,
                                        ServerConnection::List& owner) {
  for (const AcceptHook* hook : listener.accept_hooks) {
    AcceptDecision decision = hook->onAccept(worker.random, worker.shard);
    switch (decision.action) {
      case AcceptAction::Accept:
        continue;
      case AcceptAction::Reset:
        worker.shard.inc(listener.stats.cx_total);
        emitConnectionFaultAccessLog(worker, *connection,
                                     worker.dispatcher.approximateMonotonicTime(), 0);
        connection->close(network::CloseType::Reset);
        network::releaseConnection(std::move(connection));
        return nullptr;
      case AcceptAction::BlackHole: {
        worker.shard.inc(listener.stats.cx_total);
        std::vector<stats::Gauge> held{listener.stats.cx_active};
        if (decision.held_gauge) {
          held.push_back(*decision.held_gauge);
        }
        BlackHoleConnection::start(worker, std::move(connection), std::move(held), owner);
        return nullptr;
      }
    }
  }
  return connection;
}

void BlackHoleConnection::start(WorkerContext& worker, network::ConnectionPtr connection,
                                std::vector<stats::Gauge> held, List& owner) {
  adopt(owner, std::unique_ptr<ServerConnection>(
                   new BlackHoleConnection(worker, std::move(connection), std::move(held), owner)));
}

BlackHoleConnection::BlackHoleConnection(WorkerContext& worker,
                                         network::ConnectionPtr connection,
                                         std::vector<stats::Gauge> held, List& owner)
    : ServerConnection(owner),
      worker_(worker),
      connection_(std::move(connection)),
      held_(std::move(held)),
      accepted_(worker.dispatcher.approximateMonotonicTime()) {
  connection_->setCallbacks(*this);
  for (stats::Gauge gauge : held_) {
    worker_.shard.add(gauge, 1);
  }
}

BlackHoleConnection::~BlackHoleConnection() {
  releaseGauges();  // a no-op once closed; keeps the gauges right if the list is torn down
  network::releaseConnection(std::move(connection_));
}

void BlackHoleConnection::releaseGauges() {
  for (stats::Gauge gauge : held_) {
    worker_.shard.sub(gauge, 1);
  }
  held_.clear();
}

void BlackHoleConnection::onEvent(network::ConnectionEvent event) {
  if (event == network::ConnectionEvent::RemoteHalfClose ||
      event == network::ConnectionEvent::RemoteReset) {
    close();
  }
}

void BlackHoleConnection::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  releaseGauges();
  emitConnectionFaultAccessLog(worker_, *connection_, accepted_, connection_->bytesReceived());
  connection_->close(network::CloseType::NoFlush);
  removeSelf(worker_.dispatcher);
}

}  // namespace strait::http
