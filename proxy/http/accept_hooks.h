#pragma once

// What a listener's accept hooks (strait/http/filter.h, AcceptHook) decide for a newly accepted
// downstream connection, carried out on the worker: before TLS, before any byte is read.
//
//   Accept     the connection goes on to TLS and HTTP as usual.
//   Reset      closed at once with a TCP RST (uv_tcp_close_reset); counted in cx_total.
//   BlackHole  kept in the worker's connection list as a BlackHoleConnection: every byte read is
//              discarded, nothing is written, no idle timeout applies. It closes when the client
//              closes or resets it, or when the worker drains or shuts down; while open it holds
//              the listener's cx_active and the hook's gauge.
//
// Either way the access log gets one line for the connection (no request, status 0, flag FI):
// at once for a reset, when it closes for a black hole (with the bytes it swallowed).

#include <vector>

#include "proxy/http/listener_runtime.h"
#include "proxy/http/server_connection.h"

namespace strait::http {

// Runs `listener`'s hooks in order on `connection`. Returns the connection when every hook
// accepts it; otherwise takes it (reset or black-holed into `owner`) and returns null.
network::ConnectionPtr applyAcceptHooks(WorkerContext& worker,
                                        const ListenerRuntime& listener,
                                        network::ConnectionPtr connection,
                                        ServerConnection::List& owner);

// A black-holed connection (see above).
class BlackHoleConnection : public ServerConnection, public network::ConnectionCallbacks {
 public:
  // Adds the connection to `owner`; raises each of `held` by one in the worker's shard until
  // the connection closes.
  static void start(WorkerContext& worker, network::ConnectionPtr connection,
                    std::vector<stats::Gauge> held, List& owner);
  ~BlackHoleConnection() override;

  // ServerConnection: nothing is in flight, so a drain closes it like a shutdown.
  void startDrain() override { close(); }
  void closeNow() override { close(); }
  void feed(const char*, size_t) override {}

  // network::ConnectionCallbacks
  void onData(const char*, size_t) override {}  // discarded
  void onEvent(network::ConnectionEvent event) override;

 private:
  BlackHoleConnection(WorkerContext& worker, network::ConnectionPtr connection,
                      std::vector<stats::Gauge> held, List& owner);
  void close();
  void releaseGauges();

  WorkerContext& worker_;
  network::ConnectionPtr connection_;
  std::vector<stats::Gauge> held_;
  MonotonicTime accepted_;
  bool closed_ = false;
};

}  // namespace strait::http
