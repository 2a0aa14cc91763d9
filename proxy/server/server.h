#pragma once

// The proxy process: loads the config, builds snapshots, runs the workers, the admin server and
// signal handling on the main thread, reloads on SIGHUP, drains on SIGTERM / POST /drain.

#include <unistd.h>
#include <uv.h>

#include <array>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/accesslog/writer.h"
#include "proxy/admin/admin_server.h"
#include "proxy/discovery/discovery_client.h"
#include "proxy/discovery/resource_state.h"
#include "config/report.h"
#include "proxy/event/dispatcher_impl.h"
#include "proxy/carbon/policy.h"
#include "proxy/carbon/providers.h"
#include "proxy/server/load_signals.h"
#include "proxy/server/process_signals.h"
#include "proxy/server/snapshot.h"
#include "proxy/server/worker.h"
#include "proxy/upstream/dns_resolver.h"
#include "proxy/upstream/health_checker.h"
#include "strait/common/random.h"
#include "strait/stats/stats.h"

namespace strait::server {

struct Options {
  std::string config_path;
  std::string admin_address_path;  // written with "HOST:PORT" of the admin server once ready
  uint32_t concurrency = 0;        // overrides the config's `workers` when > 0
};

class Server {
 public:
  explicit Server(Options options);
  ~Server();

  // Runs until drained or stopped; returns the process exit code.
  int run();

 private:
  // ---- server.cc: start, publish, drain ------------------------------------------------------
  bool start();
  bool bindListeners(const config::Bootstrap& config, std::string& error);
  // The one way a new config reaches the workers (ARCHITECTURE.md, "Publishing a config"),
  // whatever its source: builds the snapshot (reusing what did not change), switches the access
  // log, posts the snapshot to every worker, and brings the watchers (health checks, DNS,
  // outlier timers, TLS files) in step. False with `error` set, and nothing changed, when the
  // config cannot be applied; the snapshot in force keeps serving.
  bool publish(config::BootstrapSharedPtr config, SnapshotSource source, std::string& error,
               const DnsOverride* dns_override = nullptr);
  // The listeners a new config adds, moves (remove + add) or removes against those bound.
  struct BoundListener;
  struct ListenerChanges;
  bool bindChangedListeners(const config::Bootstrap& config, ListenerChanges& changes,
                            std::string& error);
  void closeListeners(ListenerChanges& changes);
  void applyListenerChanges(ListenerChanges& changes);
  void startDrain(const std::string& trigger);
  void shutdown(int exit_code);

  // ---- server_load.cc: load signals for the filters (ProcessSignals) ----------------------------
  void startCpuSampling();
  void sampleCpu();

  // ---- server_signals.cc ----------------------------------------------------------------------
  void installSignals();
  void onSignal(int signum);

  // ---- server_config_watch.cc: the config file -------------------------------------------------
  // Reads the config file and publishes it; false when it was rejected (logged and counted).
  bool reloadFile(ConfigSource source);
  void startConfigWatch();
  void onConfigDirectoryEvent();

  // ---- server_admin.cc: admin endpoints --------------------------------------------------------
  void registerAdminHandlers();
  std::string clustersJson() const;
  std::string configDumpJson() const;
  std::string listenersJson() const;

  // ---- server_upstream.cc: health checks, DNS refresh, outlier timers, resilience stats -------
  void syncUpstreamWatchers();
  void onDnsHostsChanged(const std::string& cluster, upstream::AddressList addresses);
  void publishResilienceStats();
  void syncOutlierTimers();

  // ---- server_carbon.cc: carbon-aware clusters' policies and the signals they read -------------
  void registerCarbonStats();
  void syncCarbonClusters();
  void loadCarbonSignals();
  void onCarbonTick();
  struct CarbonCluster;
  void accountCarbon(const std::string& name, CarbonCluster& entry, const config::Cluster& cluster,
                     const std::vector<carbon::LocalityInput>& inputs,
                     const std::vector<size_t>& slots);
  const carbon::CarbonSignal* carbonSignalFor(const config::Locality& locality,
                                              const config::CarbonAware& config,
                                              SystemTime now) const;

  // ---- server_discovery.cc: the control plane ----------------------------------------------------
  // The persisted state of an earlier run, assembled with the file's config; null when there is
  // none or it does not load (then /ready waits for strait-cp).
  config::BootstrapSharedPtr restorePersisted(const config::Bootstrap& file_config);
  // False with `error` when the client cannot be made (control_plane.tls files).
  bool startDiscovery(const config::Bootstrap& file_config, std::string& error);
  // Responses from strait-cp, tried together, then one by one: one error per response
  // (empty: applied).
  std::vector<std::string> applyDiscovered(const std::vector<config::DiscoveryResponse>& responses);
  // Counts (and logs a NACK of) a response the client answered.
  void onDiscoveryAnswered(config::ResourceType type, const std::string& error);
  void setDiscoveryVersion(config::ResourceType type);
  // Applies every response of the set at once: empty, or why not.
  std::string applyDiscoveredSet(const std::vector<config::DiscoveryResponse>& responses);
  void persistDiscovered();
  // Sends strait-cp what this proxy observes (config/report.h) and re-arms the report timer.
  void sendDiscoveryReport();
  config::ProxyReport buildDiscoveryReport();
  std::string persistPath(const config::Bootstrap& config) const;
  // The file's static part with `sets` (their secrets written to files first), validated.
  discovery::Assembled assembleDiscovered(const std::string& static_canonical,
                                          const discovery::ResourceSets& sets);
  config::BootstrapSharedPtr withSourcePath(config::BootstrapSharedPtr config) const;

  // ---- server_tls_watch.cc: certificate rotation -----------------------------------------------
  void syncTlsWatches();
  void onTlsFilesChanged();

  // ---- server_access_log.cc --------------------------------------------------------------------
  void registerAccessLogStats();
  bool applyAccessLogConfig(const config::Bootstrap& config, std::string& error);
  void publishAccessLogStats();

  Options options_;
  RealTimeSource time_source_;
  event::DispatcherImpl dispatcher_;
  std::unique_ptr<stats::Store> store_;
  // The access log writer thread; declared before the workers, which log through it, so that it
  // outlives them and writes what they queued last.
  std::unique_ptr<accesslog::Writer> access_log_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::vector<std::unique_ptr<Worker>> workers_;
  SnapshotSharedPtr snapshot_;
  uint64_t next_version_ = 1;
  // Listening sockets per listener, one per worker (-1 once a worker owns it), plus the port
  // that was actually bound.
  struct BoundListener {
    std::string name;
    std::string address;
    uint16_t port;
    std::vector<int> fds;
  };
  struct ListenerChanges {
    std::vector<BoundListener> added;
    std::vector<std::string> removed;
  };
  std::vector<BoundListener> bound_;
  std::vector<uv_signal_t*> signals_;
  uv_fs_event_t* config_watch_ = nullptr;
  event::TimerPtr config_debounce_;
  std::string applied_file_hash_;  // the content hash of the file text in force
  std::string last_watched_hash_;  // the file content the watcher last acted on
  // Watches on the directories of every TLS file in force (certificates, keys, CAs), the
  // content hash of those files when the snapshot in force was built, and a debounce timer.
  std::vector<std::string> tls_watched_dirs_;
  std::vector<uv_fs_event_t*> tls_watches_;
  event::TimerPtr tls_debounce_;
  std::string tls_files_hash_;
  event::TimerPtr drain_delay_timer_;
  event::TimerPtr drain_deadline_timer_;
  uint32_t drained_workers_ = 0;
  bool draining_ = false;
  // /ready: false while the proxy waits for its first config from strait-cp.
  bool config_ready_ = true;
  // With control_plane: the file's own part (canonical), what strait-cp gave, the client.
  std::string static_canonical_;
  discovery::ResourceSets discovered_;
  std::string secrets_dir_;  // where pushed secrets are written: "<persist>.secrets"
  DefaultRandomGenerator discovery_random_{0x5eed5eedULL ^ static_cast<uint64_t>(::getpid())};
  std::unique_ptr<discovery::DiscoveryClient> discovery_;
  stats::Gauge discovery_connected_;
  std::array<stats::Counter, config::kResourceTypes> discovery_updates_;
  std::array<stats::Counter, config::kResourceTypes> discovery_applied_;
  std::array<stats::Counter, config::kResourceTypes> discovery_rejected_;
  // The applied version per type as a number (its first 13 hex digits): Envoy's version gauge.
  std::array<stats::Gauge, config::kResourceTypes> discovery_version_{};
  event::TimerPtr report_timer_;
  config::Duration report_interval_{10000};
  // Per "cluster\naddress": the host's request and error counts at the last report (the next
  // one sends the difference) and when that was.
  std::unordered_map<std::string, std::pair<uint64_t, uint64_t>> reported_counts_;
  std::chrono::steady_clock::time_point last_report_at_{};
  bool stopping_ = false;
  int exit_code_ = 0;

  stats::Counter reload_total_;
  stats::Counter reload_rejected_;
  stats::Gauge config_version_;
  stats::Gauge config_applied_time_;
  stats::Gauge workers_gauge_;
  stats::Gauge draining_gauge_;
  // Snapshots published and refused, by source (configSourceName()).
  std::unordered_map<ConfigSource, stats::Counter> published_;
  std::unordered_map<ConfigSource, stats::Counter> publish_rejected_;
  // Counted by the writer thread, copied into the main shard at scrape time.
  stats::Counter access_log_written_;
  stats::Counter access_log_written_bytes_;
  stats::Counter access_log_dropped_;
  stats::Counter access_log_write_errors_;
  stats::Counter access_log_reopens_;

  // Active health checkers and DNS resolvers by cluster name, main thread only. Declared last so
  // that they go before the dispatcher and the store they use.
  DefaultRandomGenerator random_;
  // What filter factories see of the process (FilterFactoryContext::process).
  ProcessSignalsImpl process_signals_;
  http::ProcessContext process_{dispatcher_, time_source_, random_, process_signals_};
  // server_load.cc: the process's CPU utilisation into process_signals_, every
  // CpuMeter::kPeriod.
  CpuMeter cpu_meter_;
  event::TimerPtr cpu_timer_;
  std::unordered_map<std::string, upstream::HealthCheckerPtr> health_checkers_;
  std::unordered_map<std::string, upstream::DnsResolverPtr> dns_resolvers_;
  struct OutlierTimer {
    upstream::ClusterInfoSharedPtr cluster;
    event::TimerPtr timer;
  };
  std::unordered_map<std::string, OutlierTimer> outlier_timers_;
  // Carbon-aware clusters by name: the tier of the ClusterInfo in force, its policy, and how many
  // outcomes per slot the policy has seen.
  struct CarbonCluster {
    std::shared_ptr<upstream::LocalityTier> tier;
    std::unique_ptr<carbon::CarbonPolicy> policy;
    std::vector<uint64_t> seen_requests;
    std::vector<uint64_t> seen_failures;
    std::vector<std::optional<double>> last_latency;  // per slot: the latest window's percentile
    // The accounting: energy seen per slot (Wh), emissions per slot and the carbon-blind
    // counterfactual's (milligrams of CO2eq), since the policy started.
    std::vector<double> seen_energy_wh;
    std::vector<double> emissions_mg;
    double blind_emissions_mg = 0;
    carbon::Mode last_mode = carbon::Mode::CarbonBlindStale;
  };
  std::unordered_map<std::string, CarbonCluster> carbon_clusters_;
  event::TimerPtr carbon_timer_;
  std::vector<carbon::CarbonSignal> carbon_signals_;  // the last good file's
  std::string carbon_signals_path_;
  std::string carbon_signals_text_;  // the file content last read
  stats::Counter carbon_signal_loads_;
  stats::Counter carbon_signal_errors_;
  stats::Gauge carbon_signals_gauge_;
};

}  // namespace strait::server
