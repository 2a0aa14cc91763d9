#pragma once

// What a listener's streams read, built from its listener block when a snapshot is built
// (proxy/server/snapshot.cc) and shared by later snapshots while the block is unchanged: the
// route table, codec limits, filter factories, TLS context and the listener's and its routes'
// stats. The HTTP layer's own data; the server builds it.

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/types.h"
#include "proxy/tls/context.h"
#include "proxy/upstream/cluster.h"
#include "proxy/upstream/hedge_controller.h"
#include "strait/http/filter.h"
#include "strait/http/http1_codec.h"
#include "strait/router/route_table.h"
#include "strait/stats/stats.h"
#include "strait/stats/stats_list.h"

namespace strait::http {

// Every single-series stat of a listener, sorted by field (strait/stats/stats_list.h); all
// labelled `listener`.
#define STRAIT_LISTENER_STATS(COUNTER, GAUGE, HISTOGRAM)                                      \
  GAUGE(cx_active, "strait_dp_downstream_cx_active", "Open downstream connections.")         \
  COUNTER(cx_rx_bytes, "strait_dp_downstream_cx_rx_bytes_total",                             \
          "Bytes received from downstream clients.")                                         \
  COUNTER(cx_total, "strait_dp_downstream_cx_total", "Downstream connections accepted.")     \
  COUNTER(cx_tx_bytes, "strait_dp_downstream_cx_tx_bytes_total",                             \
          "Bytes sent to downstream clients.")                                               \
  GAUGE(rq_active, "strait_dp_downstream_rq_active", "Downstream requests in flight.")       \
  COUNTER(rq_no_route, "strait_dp_downstream_rq_no_route_total",                             \
          "Requests that matched no route (404).")                                           \
  HISTOGRAM(rq_time, "strait_dp_downstream_rq_time_seconds",                                 \
            "Time from the first byte of a request to the last byte of its response.")       \
  COUNTER(rq_upstream_unavailable, "strait_dp_downstream_rq_upstream_unavailable_total",     \
          "Requests answered 503 because no upstream connection could be had.")

struct ListenerStats {
  STRAIT_STATS_FIELDS(STRAIT_LISTENER_STATS)
  upstream::CodeClassCounters rq_by_class;  // strait_dp_downstream_rq_total{code_class}
  // Requests refused by the codec, by the status they got (400, 408, 413, 414, 431, 501):
  // strait_dp_downstream_rq_rejected_total{status}.
  std::unordered_map<uint16_t, stats::Counter> rq_rejected;
};


struct RouteStats {
  upstream::CodeClassCounters rq_by_class;
  stats::Histogram rq_time;
  // The route's hedging state (route `hedge`), per process; null without a policy.
  std::shared_ptr<upstream::HedgeController> hedge;
};

// Everything a listener's streams read, built from its config block. A snapshot whose listener
// block is unchanged (same canonical text, same TLS files) shares the previous one's runtime:
// a cluster or endpoint change rebuilds no route table and no filter factory.
struct ListenerRuntime {
  const config::Listener& config;
  // The Bootstrap `config` and the route table point into, kept alive while a snapshot shares
  // this runtime.
  config::BootstrapSharedPtr bootstrap;
  std::string tls_fingerprint;  // of the TLS files as loaded (tls::filesFingerprint)
  router::RouteTablePtr routes;
  http1::CodecLimits limits;
  ListenerStats stats;
  std::unordered_map<const config::Route*, RouteStats> route_stats;
  // One per `http.filters` entry, in order (strait/http/filter.h).
  std::vector<FilterFactoryPtr> filter_factories;
  // The factories' hooks on accepted connections (FilterFactory::acceptHook()), in filter
  // order; they live as long as filter_factories.
  std::vector<const AcceptHook*> accept_hooks;
  // TLS termination (listener `tls`): certificates loaded when the snapshot was built. A
  // certificate file change builds a new snapshot, so new handshakes use the new files.
  tls::ServerContextSharedPtr tls;

  const RouteStats* routeStats(const config::Route* route) const {
    auto it = route_stats.find(route);
    return it == route_stats.end() ? nullptr : &it->second;
  }
};

}  // namespace strait::http
