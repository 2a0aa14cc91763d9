#include "proxy/server/server.h"

#include <unistd.h>

#include <netinet/in.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "config/loader.h"
#include "strait/common/log.h"

namespace strait::server {

namespace {

bool isSecretKey(const std::string& key) {
  return key == "key" || key == "password" || key == "secret" || key == "token" ||
         key == "private_key";
}

nlohmann::json yamlToJson(const YAML::Node& node, const std::string& key = "") {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& entry : node) {
        std::string k = entry.first.as<std::string>("");
        out[k] = isSecretKey(k) ? nlohmann::json("[redacted]") : yamlToJson(entry.second, k);
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) {
        out.push_back(yamlToJson(item, key));
      }
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() != "!") {  // unquoted: keep numbers and booleans typed
        if (text == "true" || text == "false") {
          return text == "true";
        }
        char* end = nullptr;
        long long n = std::strtoll(text.c_str(), &end, 10);
        if (!text.empty() && end != nullptr && *end == '\0') {
          return n;
        }
      }
      return text;
    }
    default:
      return nullptr;
  }
}

std::string contentHash(const std::string& text) {
  // FNV-1a: a stable fingerprint of the file, enough to tell versions apart in a dump.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h = (h ^ c) * 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string isoTime(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Records what was applied. The file is read again after parsing, so an edit landing in between
// could make these differ from what was parsed; the next reload corrects that.
void stampSource(Snapshot& snapshot, const std::string& path) {
  snapshot.source_text = readFile(path);
  snapshot.version_hash = contentHash(snapshot.source_text);
}

const char* lbName(config::LbPolicy lb) {
  switch (lb) {
    case config::LbPolicy::RoundRobin:
      return "round_robin";
    case config::LbPolicy::LeastRequest:
      return "least_request";
    case config::LbPolicy::Random:
      return "random";
    case config::LbPolicy::RingHash:
      return "ring_hash";
  }
  return "unknown";
}

}  // namespace

Server::Server(Options options) : options_(std::move(options)), dispatcher_(time_source_) {}

Server::~Server() {
  if (config_watch_ != nullptr) {
    event::DispatcherImpl::closeHandle(config_watch_);
  }
  for (auto* s : signals_) {
    event::DispatcherImpl::closeHandle(s);
  }
  for (auto* w : tls_watches_) {
    event::DispatcherImpl::closeHandle(w);
  }
  workers_.clear();
  admin_.reset();
  for (auto& b : bound_) {
    for (int fd : b.fds) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
  }
}

int Server::run() {
  if (!start()) {
    return 1;
  }
  dispatcher_.run();
  for (auto& worker : workers_) {
    worker->stop();
  }
  // The lines of the streams the workers closed on their way out. A file that takes no writes
  // (a pipe nobody reads) must not keep the process from exiting: past the deadline the writer
  // and its thread are left behind, blocked, for the exit to end.
  if (!access_log_->flush(std::chrono::seconds(5))) {
    STRAIT_LOG(Warn, "access log: not flushed within 5s; exiting without the last lines");
    static_cast<void>(access_log_.release());
  }
  STRAIT_LOG(Info, "stopped");
  return exit_code_;
}

bool Server::bindListeners(const config::Bootstrap& config, std::string& error) {
  for (const auto& listener : config.listeners) {
    BoundListener bound{listener.name, listener.address, listener.port, {}};
    for (size_t i = 0; i < workers_.size(); i++) {
      // The first socket may pick a free port (port 0); the others join it with SO_REUSEPORT.
      uint16_t port = 0;
      int fd = network::bindListenSocket(listener.address, bound.port, 1024, port, error);
      if (fd < 0) {
        error = "listener " + listener.name + ": " + error;
        return false;
      }
      bound.port = port;
      bound.fds.push_back(fd);
    }
    STRAIT_LOG(Info, "listener %s on %s:%u (%zu workers)", listener.name.c_str(),
               listener.address.c_str(), bound.port, bound.fds.size());
    bound_.push_back(std::move(bound));
  }
  return true;
}

bool Server::start() {
  std::signal(SIGPIPE, SIG_IGN);
  auto loaded = config::loadFile(options_.config_path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) {
      std::fprintf(stderr, "%s\n", e.toString().c_str());
    }
    return false;
  }
  const auto& config = *loaded.bootstrap;
  uint32_t workers = options_.concurrency > 0 ? options_.concurrency : config.workers;
  if (workers == 0) {
    workers = std::max(1u, std::thread::hardware_concurrency());
  }
  store_ = std::make_unique<stats::Store>(workers);
  reload_total_ = store_->counter("strait_dp_config_reload_total", "Config reloads applied.");
  reload_rejected_ = store_->counter("strait_dp_config_reload_rejected_total",
                                     "Config reloads rejected (the old config kept serving).");
  config_version_ = store_->gauge("strait_dp_config_version", "Version of the config in force.");
  config_applied_time_ = store_->gauge("strait_dp_config_applied_time_seconds",
                                       "Unix time the config in force was applied.");
  workers_gauge_ = store_->gauge("strait_dp_workers", "Worker threads.");
  draining_gauge_ = store_->gauge("strait_dp_draining", "1 while the proxy is draining.");
  store_->mainShard().set(workers_gauge_, workers);

  std::string error;
  snapshot_ = buildSnapshot(loaded.bootstrap, nullptr, *store_, next_version_++, error);
  if (snapshot_ == nullptr) {
    std::fprintf(stderr, "%s: %s\n", options_.config_path.c_str(), error.c_str());
    return false;
  }
  stampSource(const_cast<Snapshot&>(*snapshot_), options_.config_path);
  store_->mainShard().set(config_version_, static_cast<int64_t>(snapshot_->version));
  store_->mainShard().set(config_applied_time_,
                          std::chrono::duration_cast<std::chrono::seconds>(
                              snapshot_->applied_at.time_since_epoch())
                              .count());

  access_log_ = std::make_unique<accesslog::Writer>();
  registerAccessLogStats();
  if (!applyAccessLogConfig(config, error)) {
    std::fprintf(stderr, "access_log: %s\n", error.c_str());
    return false;
  }
  for (uint32_t i = 0; i < workers; i++) {
    workers_.push_back(std::make_unique<Worker>(i, *store_, time_source_, access_log_.get()));
  }
  if (!bindListeners(config, error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return false;
  }
  admin_ = std::make_unique<admin::AdminServer>(dispatcher_);
  registerAdminHandlers();
  if (!admin_->listen(config.admin.address, config.admin.port, error)) {
    std::fprintf(stderr, "admin: %s\n", error.c_str());
    return false;
  }
  for (uint32_t i = 0; i < workers; i++) {
    std::vector<ListenSocket> sockets;
    for (auto& b : bound_) {
      sockets.push_back(ListenSocket{b.name, b.fds[i]});
      b.fds[i] = -1;  // owned by the worker's listener now
    }
    workers_[i]->start(snapshot_, std::move(sockets));
  }
  syncUpstreamWatchers();
  syncTlsWatches();
  for (int signum : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    auto* handle = new uv_signal_t;
    uv_signal_init(dispatcher_.loop(), handle);
    handle->data = this;
    uv_signal_start(
        handle,
        [](uv_signal_t* h, int sig) {
          auto* self = static_cast<Server*>(h->data);
          if (self != nullptr) {
            self->onSignal(sig);
          }
        },
        signum);
    signals_.push_back(handle);
  }
  startConfigWatch();
  STRAIT_LOG(Info, "admin on %s:%u; %u workers; config version %llu", admin_->address().c_str(),
             admin_->port(), workers, static_cast<unsigned long long>(snapshot_->version));
  if (!options_.admin_address_path.empty()) {
    std::string tmp = options_.admin_address_path + ".tmp";
    std::ofstream(tmp) << admin_->address() << ":" << admin_->port() << "\n";
    std::rename(tmp.c_str(), options_.admin_address_path.c_str());
  }
  return true;
}

void Server::onSignal(int signum) {
  if (signum == SIGHUP) {
    reload("SIGHUP");
    return;
  }
  if (signum == SIGUSR1) {
    // Log rotation: the file was renamed; lines queued from now on go to a fresh one.
    std::string error;
    if (!access_log_->reopen(error)) {
      STRAIT_LOG(Error, "SIGUSR1: access log not reopened: %s", error.c_str());
    } else if (!access_log_->path().empty()) {
      STRAIT_LOG(Info, "SIGUSR1: access log %s reopened", access_log_->path().c_str());
    }
    return;
  }
  if (draining_) {
    STRAIT_LOG(Warn, "second %s: exiting now", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    shutdown(0);
    return;
  }
  startDrain(signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

void Server::reload(const std::string& trigger) {
  auto started = std::chrono::steady_clock::now();
  auto loaded = config::loadFile(options_.config_path);
  auto parsed = std::chrono::steady_clock::now();
  std::string error;
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) {
      STRAIT_LOG(Error, "reload (%s) rejected: %s", trigger.c_str(), e.toString().c_str());
    }
    store_->mainShard().inc(reload_rejected_);
    return;
  }
  // Listeners are bound at start; changing them needs a restart (for now).
  const auto& next = loaded.bootstrap->listeners;
  bool same = next.size() == bound_.size();
  for (size_t i = 0; same && i < next.size(); i++) {
    same = next[i].name == bound_[i].name && next[i].address == bound_[i].address &&
           (next[i].port == 0 || next[i].port == bound_[i].port);
  }
  if (!same) {
    STRAIT_LOG(Error, "reload (%s) rejected: listeners were added, removed or re-addressed; "
               "that needs a restart", trigger.c_str());
    store_->mainShard().inc(reload_rejected_);
    return;
  }
  auto snapshot = buildSnapshot(loaded.bootstrap, snapshot_.get(), *store_, next_version_, error);
  if (snapshot == nullptr) {
    STRAIT_LOG(Error, "reload (%s) rejected: %s", trigger.c_str(), error.c_str());
    store_->mainShard().inc(reload_rejected_);
    return;
  }
  if (!applyAccessLogConfig(*loaded.bootstrap, error)) {
    STRAIT_LOG(Error, "reload (%s) rejected: access_log: %s", trigger.c_str(), error.c_str());
    store_->mainShard().inc(reload_rejected_);
    return;
  }
  next_version_++;
  stampSource(const_cast<Snapshot&>(*snapshot), options_.config_path);
  snapshot_ = snapshot;
  for (auto& worker : workers_) {
    worker->updateSnapshot(snapshot_);
  }
  syncUpstreamWatchers();
  syncTlsWatches();
  store_->mainShard().inc(reload_total_);
  store_->mainShard().set(config_version_, static_cast<int64_t>(snapshot_->version));
  store_->mainShard().set(config_applied_time_,
                          std::chrono::duration_cast<std::chrono::seconds>(
                              snapshot_->applied_at.time_since_epoch())
                              .count());
  auto applied = std::chrono::steady_clock::now();
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  STRAIT_LOG(Info, "config version %llu applied (%s) in %.1f ms: parse and validate %.1f ms, "
             "build and publish %.1f ms",
             static_cast<unsigned long long>(snapshot_->version), trigger.c_str(),
             ms(applied - started), ms(parsed - started), ms(applied - parsed));
}

// The config file is watched through its directory, not the file itself: editors save by writing
// a new file and renaming it over the old one, and a Kubernetes ConfigMap volume swaps a `..data`
// symlink, and in both cases a watch on the old inode would go silent. Any event in the
// directory arms a short debounce timer; when it fires, the file is read and reloaded only if
// its content hash differs from the version in force.
void Server::startConfigWatch() {
  std::string dir = options_.config_path;
  size_t slash = dir.find_last_of('/');
  dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash));
  config_watch_ = new uv_fs_event_t;
  uv_fs_event_init(dispatcher_.loop(), config_watch_);
  config_watch_->data = this;
  int rc = uv_fs_event_start(
      config_watch_,
      [](uv_fs_event_t* handle, const char*, int, int) {
        auto* self = static_cast<Server*>(handle->data);
        if (self != nullptr) {
          self->onConfigDirectoryEvent();
        }
      },
      dir.c_str(), 0);
  if (rc != 0) {
    STRAIT_LOG(Warn, "cannot watch %s for config changes (%s); SIGHUP still reloads", dir.c_str(),
               uv_strerror(rc));
    return;
  }
  config_debounce_ = dispatcher_.createTimer([this]() {
    if (draining_) {
      return;
    }
    std::string text = readFile(options_.config_path);
    std::string hash = contentHash(text);
    // Unchanged, mid-replace (the next event re-arms the timer), or a content already tried
    // (a rejected file is not rejected again on every unrelated event in its directory).
    if (text.empty() || hash == snapshot_->version_hash || hash == last_watched_hash_) {
      return;
    }
    last_watched_hash_ = hash;
    reload("file change");
  });
}

void Server::onConfigDirectoryEvent() {
  if (config_debounce_ != nullptr) {
    config_debounce_->enableTimer(std::chrono::milliseconds(100));
  }
}

void Server::startDrain(const std::string& trigger) {
  if (draining_) {
    return;
  }
  draining_ = true;
  store_->mainShard().set(draining_gauge_, 1);
  const auto& drain = snapshot_->config->drain;
  STRAIT_LOG(Info, "draining (%s): delay %lldms, timeout %lldms", trigger.c_str(),
             static_cast<long long>(drain.delay.count()),
             static_cast<long long>(drain.timeout.count()));
  drain_deadline_timer_ = dispatcher_.createTimer([this]() {
    STRAIT_LOG(Warn, "drain timeout reached; exiting with connections open");
    shutdown(0);
  });
  drain_deadline_timer_->enableTimer(drain.timeout);
  drain_delay_timer_ = dispatcher_.createTimer([this]() {
    for (auto& worker : workers_) {
      worker->startDrain([this]() {
        dispatcher_.post([this]() {
          if (++drained_workers_ == workers_.size()) {
            STRAIT_LOG(Info, "drained: no connection left");
            shutdown(0);
          }
        });
      });
    }
  });
  drain_delay_timer_->enableTimer(drain.delay);
}

void Server::shutdown(int exit_code) {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  exit_code_ = exit_code;
  dispatcher_.exit();
}

void Server::registerAdminHandlers() {
  admin_->addHandler("GET", "/ready", "200 once serving, 503 while draining",
                     [this](const http::RequestHeaders&) {
                       if (draining_) {
                         return admin::AdminResponse{503, "text/plain; charset=utf-8",
                                                     "DRAINING\n"};
                       }
                       return admin::AdminResponse{200, "text/plain; charset=utf-8", "LIVE\n"};
                     });
  admin_->addHandler("GET", "/live", "200 while the process runs",
                     [](const http::RequestHeaders&) {
                       return admin::AdminResponse{200, "text/plain; charset=utf-8", "OK\n"};
                     });
  admin_->addHandler("GET", "/stats", "Prometheus text format", [this](const http::RequestHeaders&) {
    publishAccessLogStats();
    publishResilienceStats();
    return admin::AdminResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                store_->renderPrometheus()};
  });
  admin_->addHandler("GET", "/config_dump", "the config in force (secrets redacted)",
                     [this](const http::RequestHeaders&) {
                       return admin::AdminResponse{200, "application/json", configDumpJson()};
                     });
  admin_->addHandler("GET", "/clusters", "clusters, endpoints, health and counters",
                     [this](const http::RequestHeaders&) {
                       return admin::AdminResponse{200, "application/json", clustersJson()};
                     });
  admin_->addHandler("GET", "/listeners", "listeners and their bound ports",
                     [this](const http::RequestHeaders&) {
                       return admin::AdminResponse{200, "application/json", listenersJson()};
                     });
  admin_->addHandler("POST", "/drain", "start a graceful drain (like SIGTERM)",
                     [this](const http::RequestHeaders&) {
                       startDrain("POST /drain");
                       return admin::AdminResponse{200, "text/plain; charset=utf-8",
                                                   "draining\n"};
                     });
  admin_->addHandler("POST", "/reload", "reload the config file (like SIGHUP)",
                     [this](const http::RequestHeaders&) {
                       uint64_t before = snapshot_->version;
                       reload("POST /reload");
                       bool applied = snapshot_->version != before;
                       return admin::AdminResponse{
                           static_cast<uint16_t>(applied ? 200 : 400), "text/plain; charset=utf-8",
                           applied ? "applied\n" : "rejected (see the log)\n"};
                     });
}

std::string Server::listenersJson() const {
  nlohmann::json out;
  out["listeners"] = nlohmann::json::array();
  for (const auto& b : bound_) {
    out["listeners"].push_back({{"name", b.name}, {"address", b.address}, {"port", b.port}});
  }
  return out.dump(2) + "\n";
}

std::string Server::clustersJson() const {
  nlohmann::json out;
  out["clusters"] = nlohmann::json::array();
  std::vector<std::string> names;
  for (const auto& [name, info] : snapshot_->clusters) {
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const auto& info = *snapshot_->clusters.at(name);
    nlohmann::json cluster{{"name", name}, {"lb", lbName(info.config.lb)}};
    cluster["endpoints"] = nlohmann::json::array();
    auto checker = health_checkers_.find(name);
    uint32_t healthy_hosts = 0;
    for (const auto& h : info.hosts) {
      const auto& host = static_cast<const upstream::HostImpl&>(*h);
      healthy_hosts += host.healthy() ? 1 : 0;
      const upstream::HostHealthStatus* check =
          checker == health_checkers_.end() ? nullptr : checker->second->status(host);
      cluster["endpoints"].push_back({
          {"address", host.addressString()},
          {"weight", host.weight()},
          {"locality", {{"region", host.locality().region}, {"zone", host.locality().zone}}},
          {"health", host.healthy() ? "healthy" : "unhealthy"},
          {"outlier_ejected", host.ejected()},
          {"health_reason", check == nullptr  ? "no health check configured"
                            : !check->checked ? "not checked yet"
                                              : check->reason},
          {"last_check", check != nullptr && check->checked
                             ? nlohmann::json(isoTime(check->last_check))
                             : nlohmann::json(nullptr)},
          {"cx_active", host.cx_active.load()},
          {"cx_connect_fail", host.cx_connect_fail.load()},
          {"rq_active", host.activeRequests()},
          {"rq_total", host.rq_total.load()},
          {"rq_error", host.rq_error.load()},
      });
    }
    cluster["healthy_hosts"] = healthy_hosts;
    // Load balancers fall back to every host when none is healthy (panic mode).
    cluster["panic"] = !info.hosts.empty() && healthy_hosts == 0;
    out["clusters"].push_back(std::move(cluster));
  }
  return out.dump(2) + "\n";
}

std::string Server::configDumpJson() const {
  nlohmann::json out;
  out["version"] = snapshot_->version;
  out["version_hash"] = snapshot_->version_hash;
  out["applied_at"] = isoTime(snapshot_->applied_at);
  out["source"] = snapshot_->config->source_path;
  try {
    out["config"] = yamlToJson(YAML::Load(snapshot_->source_text));
  } catch (const YAML::Exception& e) {
    out["config"] = nullptr;
    out["config_error"] = std::string("cannot render the applied file: ") + e.what();
  }
  return out.dump(2) + "\n";
}

// ---- access log (issue 3, item 6) -------------------------------------------------------------

void Server::registerAccessLogStats() {
  access_log_written_ =
      store_->counter("strait_dp_access_log_written_total", "Access log lines written.");
  access_log_written_bytes_ = store_->counter("strait_dp_access_log_written_bytes_total",
                                              "Access log bytes written.");
  access_log_dropped_ = store_->counter(
      "strait_dp_access_log_dropped_total",
      "Access log lines dropped: the writer's queue was full (the disk not keeping up), a write "
      "failed, or no file was open.");
  access_log_write_errors_ = store_->counter("strait_dp_access_log_write_errors_total",
                                             "Failed write(2) calls to the access log.");
  access_log_reopens_ = store_->counter("strait_dp_access_log_reopen_total",
                                        "Access log reopens (SIGUSR1, log rotation).");
}

// The writer thread keeps its counts in atomics; the main shard's slots for these counters are
// written by nobody else, so setting them to the writer's totals before a scrape is exact.
void Server::publishAccessLogStats() {
  auto publish = [this](stats::Counter c, uint64_t value) {
    store_->mainShard().set(stats::Gauge{c.slot}, static_cast<int64_t>(value));
  };
  publish(access_log_written_, access_log_->writtenLines());
  publish(access_log_written_bytes_, access_log_->writtenBytes());
  publish(access_log_dropped_, access_log_->droppedLines());
  publish(access_log_write_errors_, access_log_->writeErrors());
  publish(access_log_reopens_, access_log_->reopens());
}

// Start and reload: open the configured file when its path is new, stop writing when the key is
// gone. The switch happens here, before the new snapshot reaches the workers; a line queued
// after it goes to the new file, in the format of the config its worker runs at that moment.
bool Server::applyAccessLogConfig(const config::Bootstrap& config, std::string& error) {
  if (!config.access_log.has_value()) {
    access_log_->close();
    return true;
  }
  if (config.access_log->path == access_log_->path()) {
    return true;
  }
  return access_log_->open(config.access_log->path, error);
}

// ---- circuit breakers and outlier detection (issue 5) -----------------------------------------

// The detectors and resource managers keep process-wide atomics; their main-shard slots are
// written by nobody else, so setting them to the current totals before a scrape is exact.
void Server::publishResilienceStats() {
  stats::Shard& main = store_->mainShard();
  for (const auto& [name, info] : snapshot_->clusters) {
    const stats::Labels labels{{"cluster", name}};
    upstream::ResourceManager& resources = *info->resources;
    const std::pair<const char*, upstream::ResourceLimit*> limits[] = {
        {"max_connections", &resources.connections()},
        {"max_pending_requests", &resources.pending()},
        {"max_requests", &resources.requests()},
        {"retry_budget", nullptr},
    };
    for (const auto& [limit, counted] : limits) {
      bool open = counted != nullptr ? counted->openSinceLastScrape()
                                     : resources.retryBudgetOpenSinceLastScrape();
      main.set(store_->gauge("strait_dp_upstream_circuit_open",
                             "1 while a circuit-breaker limit (per process) is at its maximum, or "
                             "has refused something since the previous scrape.",
                             {{"cluster", name}, {"limit", limit}}),
               open ? 1 : 0);
    }
    main.set(store_->gauge("strait_dp_upstream_rq_in_flight",
                           "Requests holding a max_requests slot, all workers together.", labels),
             static_cast<int64_t>(resources.requests().active()));
    main.set(store_->gauge("strait_dp_upstream_rq_pending_active",
                           "Requests waiting for a max_requests slot or a connection, all "
                           "workers together (max_pending_requests).",
                           labels),
             static_cast<int64_t>(resources.pending().active()));
    main.set(store_->gauge("strait_dp_upstream_cx_counted",
                           "Upstream connections counted against max_connections, all workers "
                           "together.",
                           labels),
             static_cast<int64_t>(resources.connections().active()));
    if (info->outlier == nullptr) {
      continue;
    }
    const upstream::OutlierDetector& outlier = *info->outlier;
    main.set(store_->gauge("strait_dp_outlier_ejections_active", "Hosts ejected now.", labels),
             static_cast<int64_t>(outlier.ejectionsActive()));
    main.set(stats::Gauge{store_->counter("strait_dp_outlier_ejections_overflow_total",
                                          "Ejections not made: max_ejection_percent.", labels)
                              .slot},
             static_cast<int64_t>(outlier.ejectionsOverflow()));
    for (size_t k = 0; k < upstream::kOutlierDetectorKinds; k++) {
      auto kind = static_cast<upstream::OutlierDetectorKind>(k);
      const stats::Labels by_detector{{"cluster", name},
                                      {"detector", upstream::outlierDetectorName(kind)}};
      main.set(stats::Gauge{store_->counter("strait_dp_outlier_ejections_total",
                                            "Hosts ejected, by detector.", by_detector)
                                .slot},
               static_cast<int64_t>(outlier.ejectionsTotal(kind)));
      main.set(stats::Gauge{store_->counter("strait_dp_outlier_detected_total",
                                            "Outliers detected (ejected or not: enforcing).",
                                            by_detector)
                                .slot},
               static_cast<int64_t>(outlier.detected(kind)));
    }
  }
}

// One evaluation timer per cluster with outlier_detection, on the main loop, in step with the
// ClusterInfo in force (a rebuilt cluster gets a new detector and so a new timer).
void Server::syncOutlierTimers() {
  for (auto it = outlier_timers_.begin(); it != outlier_timers_.end();) {
    auto info = snapshot_->clusters.find(it->first);
    if (info == snapshot_->clusters.end() || info->second != it->second.cluster) {
      it = outlier_timers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, info] : snapshot_->clusters) {
    if (info->outlier == nullptr || outlier_timers_.count(name) != 0) {
      continue;
    }
    OutlierTimer& entry = outlier_timers_[name];
    entry.cluster = info;
    std::chrono::milliseconds interval = info->config.outlier_detection->interval;
    upstream::OutlierDetector* detector = info->outlier.get();
    // The map's nodes do not move, so the callback may hold a reference to its own timer.
    entry.timer = dispatcher_.createTimer([detector, interval, &timer_ref = entry.timer]() {
      detector->evaluate();
      timer_ref->enableTimer(interval);
    });
    entry.timer->enableTimer(interval);
  }
}

// ---- health checks and DNS refresh (issue 3) --------------------------------------------------

namespace {

const config::Cluster* findClusterConfig(const config::Bootstrap& bootstrap,
                                         const std::string& name) {
  for (const auto& cluster : bootstrap.clusters) {
    if (cluster.name == name) {
      return &cluster;
    }
  }
  return nullptr;
}

upstream::AddressList hostAddresses(const upstream::ClusterInfo& info) {
  upstream::AddressList out;
  for (const auto& h : info.hosts) {
    sockaddr_storage addr{};
    const sockaddr* sa = static_cast<const upstream::HostImpl&>(*h).sockAddr();
    std::memcpy(&addr, sa, sa->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    out.push_back(addr);
  }
  return out;
}

}  // namespace

// Called after every snapshot is published (start, reload, DNS refresh): keeps one health checker
// per cluster with a health_check and one resolver per DNS cluster, in step with the clusters in
// force. A checker whose ClusterInfo or settings changed is replaced (the new hosts start from
// their own health flag, so new hosts start healthy); a checker that goes away leaves its hosts
// healthy, since nothing else would clear its verdict.
void Server::syncUpstreamWatchers() {
  syncOutlierTimers();
  const auto& bootstrap = *snapshot_->config;
  for (auto it = health_checkers_.begin(); it != health_checkers_.end();) {
    auto info = snapshot_->clusters.find(it->first);
    const config::Cluster* cluster = findClusterConfig(bootstrap, it->first);
    bool keep = info != snapshot_->clusters.end() && cluster != nullptr &&
                cluster->health_check && info->second == it->second->cluster() &&
                upstream::sameHealthCheck(*cluster->health_check, it->second->config());
    if (keep) {
      ++it;
      continue;
    }
    if (info != snapshot_->clusters.end() && info->second == it->second->cluster()) {
      for (const auto& host : info->second->hosts) {
        host->setHealthy(true);
      }
    }
    it = health_checkers_.erase(it);
  }
  for (const auto& [name, info] : snapshot_->clusters) {
    const config::Cluster* cluster = findClusterConfig(bootstrap, name);
    if (cluster == nullptr) {
      continue;
    }
    if (cluster->health_check && health_checkers_.count(name) == 0) {
      health_checkers_.emplace(name, std::make_unique<upstream::HealthChecker>(
                                         dispatcher_, random_, info, *cluster->health_check,
                                         *store_));
    } else if (!cluster->health_check) {
      store_->mainShard().set(
          store_->gauge("strait_dp_upstream_healthy_hosts",
                        "Hosts the load balancers may pick as healthy (0: panic, all hosts used).",
                        {{"cluster", name}}),
          static_cast<int64_t>(info->hosts.size()));
    }
    auto resolver = dns_resolvers_.find(name);
    if (!cluster->dns) {
      if (resolver != dns_resolvers_.end()) {
        dns_resolvers_.erase(resolver);
      }
      continue;
    }
    const auto& dns = *cluster->dns;
    if (resolver != dns_resolvers_.end() && resolver->second->config().name == dns.name &&
        resolver->second->config().port == dns.port &&
        resolver->second->config().refresh == dns.refresh) {
      resolver->second->setKnown(hostAddresses(*info));
      continue;
    }
    dns_resolvers_[name] = std::make_unique<upstream::DnsResolver>(
        dispatcher_, name, dns, hostAddresses(*info), *store_,
        [this](const std::string& cluster_name, upstream::AddressList addresses) {
          onDnsHostsChanged(cluster_name, std::move(addresses));
        });
  }
  for (auto it = dns_resolvers_.begin(); it != dns_resolvers_.end();) {
    it = snapshot_->clusters.count(it->first) == 0 ? dns_resolvers_.erase(it) : std::next(it);
  }
}

// A DNS cluster's addresses changed: publish a snapshot of the same config with that cluster
// rebuilt on the new addresses (every other cluster, and so its pools, is carried over).
void Server::onDnsHostsChanged(const std::string& cluster, upstream::AddressList addresses) {
  if (stopping_) {
    return;
  }
  DnsOverride dns_override{cluster, std::move(addresses)};
  std::string error;
  auto snapshot = buildSnapshot(snapshot_->config, snapshot_.get(), *store_, next_version_, error,
                                &dns_override);
  if (snapshot == nullptr) {
    STRAIT_LOG(Error, "DNS refresh of cluster %s not applied: %s", cluster.c_str(),
               error.c_str());
    return;
  }
  next_version_++;
  auto& next = const_cast<Snapshot&>(*snapshot);
  next.source_text = snapshot_->source_text;
  next.version_hash = snapshot_->version_hash;
  snapshot_ = snapshot;
  for (auto& worker : workers_) {
    worker->updateSnapshot(snapshot_);
  }
  syncUpstreamWatchers();
  syncTlsWatches();
  store_->mainShard().set(config_version_, static_cast<int64_t>(snapshot_->version));
  STRAIT_LOG(Info, "config version %llu applied (DNS refresh of cluster %s: %zu hosts)",
             static_cast<unsigned long long>(snapshot_->version), cluster.c_str(),
             snapshot_->clusters.at(cluster)->hosts.size());
}

// ---- server_tls: certificate rotation ----------------------------------------------------------
//
// Every TLS file a snapshot loaded is watched through its directory (like the config file, so
// renames and Kubernetes secret symlink swaps are seen). When their combined content changes,
// the same config is built again: the new snapshot's listeners load the new files and serve new
// handshakes with them, while open connections keep the context they started with; a cluster
// whose TLS files changed gets a new ClusterInfo (new pools; the old ones drain). A file that
// does not load (half written, a key that does not match) leaves the old snapshot serving and is
// logged; the next change is tried again.

namespace {

std::vector<std::string> tlsFiles(const config::Bootstrap& config) {
  std::vector<std::string> files;
  const std::string base = tls::directoryOf(config.source_path);
  for (const auto& listener : config.listeners) {
    if (!listener.tls) {
      continue;
    }
    for (const auto& certificate : listener.tls->certificates) {
      files.push_back(tls::resolvePath(base, certificate.cert));
      files.push_back(tls::resolvePath(base, certificate.key));
    }
    if (listener.tls->client_validation) {
      for (const auto& bundle : listener.tls->client_validation->trust_bundles) {
        files.push_back(tls::resolvePath(base, bundle.ca));
      }
    }
  }
  for (const auto& cluster : config.clusters) {
    if (cluster.tls) {
      for (const auto& file : tls::clusterTlsFiles(*cluster.tls)) {
        files.push_back(tls::resolvePath(base, file));
      }
    }
  }
  return files;
}

std::string filesHash(const std::vector<std::string>& files) {
  std::string all;
  for (const auto& file : files) {
    all += file;
    all.push_back('\0');
    all += readFile(file);
    all.push_back('\0');
  }
  return contentHash(all);
}

}  // namespace

void Server::syncTlsWatches() {
  std::vector<std::string> files = tlsFiles(*snapshot_->config);
  tls_files_hash_ = filesHash(files);
  std::vector<std::string> dirs;
  for (const auto& file : files) {
    std::string dir = tls::directoryOf(file);
    dir = dir.empty() ? "." : dir;
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) {
      dirs.push_back(dir);
    }
  }
  std::sort(dirs.begin(), dirs.end());
  if (dirs == tls_watched_dirs_) {
    return;
  }
  for (auto* w : tls_watches_) {
    event::DispatcherImpl::closeHandle(w);
  }
  tls_watches_.clear();
  tls_watched_dirs_ = dirs;
  if (tls_debounce_ == nullptr) {
    tls_debounce_ = dispatcher_.createTimer([this]() { onTlsFilesChanged(); });
  }
  for (const auto& dir : dirs) {
    auto* watch = new uv_fs_event_t;
    uv_fs_event_init(dispatcher_.loop(), watch);
    watch->data = this;
    int rc = uv_fs_event_start(
        watch,
        [](uv_fs_event_t* handle, const char*, int, int) {
          auto* self = static_cast<Server*>(handle->data);
          if (self != nullptr && self->tls_debounce_ != nullptr) {
            self->tls_debounce_->enableTimer(std::chrono::milliseconds(100));
          }
        },
        dir.c_str(), 0);
    if (rc != 0) {
      STRAIT_LOG(Warn, "cannot watch %s for certificate changes (%s); SIGHUP reloads them",
                 dir.c_str(), uv_strerror(rc));
    }
    tls_watches_.push_back(watch);
  }
}

void Server::onTlsFilesChanged() {
  if (stopping_ || draining_) {
    return;
  }
  std::string hash = filesHash(tlsFiles(*snapshot_->config));
  if (hash == tls_files_hash_) {
    return;
  }
  tls_files_hash_ = hash;  // a file that fails to load is not retried until it changes again
  std::string error;
  auto snapshot = buildSnapshot(snapshot_->config, snapshot_.get(), *store_, next_version_, error);
  if (snapshot == nullptr) {
    STRAIT_LOG(Error, "certificate change not applied (the old certificates keep serving): %s",
               error.c_str());
    store_->mainShard().inc(reload_rejected_);
    return;
  }
  next_version_++;
  auto& next = const_cast<Snapshot&>(*snapshot);
  next.source_text = snapshot_->source_text;
  next.version_hash = snapshot_->version_hash;
  snapshot_ = snapshot;
  for (auto& worker : workers_) {
    worker->updateSnapshot(snapshot_);
  }
  syncUpstreamWatchers();
  store_->mainShard().set(config_version_, static_cast<int64_t>(snapshot_->version));
  STRAIT_LOG(Info, "config version %llu applied (certificate files changed)",
             static_cast<unsigned long long>(snapshot_->version));
}

}  // namespace strait::server
