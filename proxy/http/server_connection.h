#pragma once

// What a worker holds for each accepted downstream connection, whatever its protocol: the
// protocol detector until the first bytes arrive, then the HTTP/1.1 or HTTP/2 connection
// manager. The worker only drains and closes them; each removes itself from the worker's list
// when its connection closes.

#include <list>
#include <memory>
#include <string>

#include "proxy/http/protocol_select.h"
#include "strait/event/dispatcher.h"
#include "strait/http/worker_context.h"
#include "strait/network/connection.h"

namespace strait::http {

class ServerConnection : public event::DeferredDeletable {
 public:
  using List = std::list<std::unique_ptr<ServerConnection>>;

  // Drain: finish what is in flight, take nothing new, then close.
  virtual void startDrain() = 0;
  // Shutdown: close now.
  virtual void closeNow() = 0;
  // Bytes read from the connection before this object took it over (the detector's).
  virtual void feed(const char* data, size_t len) = 0;

 protected:
  explicit ServerConnection(List& owner) : owner_(owner) {}
  // Appends `connection` (whose owner is `owner`) to the worker's list.
  static void adopt(List& owner, std::unique_ptr<ServerConnection> connection) {
    owner.push_back(std::move(connection));
    owner.back()->self_ = std::prev(owner.end());
  }
  // Leaves the worker's list and is deleted once the running callback returns.
  void removeSelf(event::Dispatcher& dispatcher) {
    auto owned = std::move(*self_);
    owner_.erase(self_);
    dispatcher.deferredDelete(std::move(owned));
  }

  List& owner_;
  List::iterator self_;

  friend class ProtocolDetector;
  friend void acceptConnection(WorkerContext&, const std::string&, network::ConnectionPtr,
                               List&);
  friend ServerConnection& startServerConnection(DownstreamProtocol, WorkerContext&,
                                                 const std::string&, network::ConnectionPtr,
                                                 List&, List::iterator);
};

// Points `snapshot` and `listener` at the worker's current snapshot and, in it, the listener
// named `listener_name`, unless they are current already. A connection calls it when a request
// begins: a new request uses the config in force, one in flight keeps the snapshot it started
// with. When the current snapshot has no such listener (it is being removed) both stay as they
// were.
inline void refreshListener(const WorkerContext& worker, const std::string& listener_name,
                            SnapshotViewSharedPtr& snapshot,
                            const ListenerRuntime*& listener) {
  if (snapshot == worker.snapshot && listener != nullptr) {
    return;
  }
  const ListenerRuntime* runtime = worker.snapshot->findListener(listener_name);
  if (runtime != nullptr) {
    snapshot = worker.snapshot;
    listener = runtime;
  }
}

// A freshly accepted plaintext connection: added to `owner` behind a protocol detector, which
// hands it to the HTTP/1.1 or HTTP/2 manager once the first bytes show which it speaks.
void acceptConnection(WorkerContext& worker, const std::string& listener_name,
                      network::ConnectionPtr connection, ServerConnection::List& owner);

// Hands a connection whose protocol is known (by the preface, or later by ALPN) to its manager,
// which takes `slot` in the owner's list (the slot's previous occupant is deferred-deleted).
// Returns the manager, so that bytes already read can be fed to it.
ServerConnection& startServerConnection(DownstreamProtocol protocol,
                                        WorkerContext& worker,
                                        const std::string& listener_name,
                                        network::ConnectionPtr connection,
                                        ServerConnection::List& owner,
                                        ServerConnection::List::iterator slot);

}  // namespace strait::http
