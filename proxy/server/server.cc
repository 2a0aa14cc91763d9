#include "proxy/server/server.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>

#include "config/loader.h"
#include "proxy/server/files.h"
#include "strait/common/log.h"

namespace strait::server {

namespace {

bool isFileSource(ConfigSource source) {
  return source == ConfigSource::FileChange || source == ConfigSource::Signal ||
         source == ConfigSource::AdminReload;
}

constexpr ConfigSource kAllSources[] = {
    ConfigSource::Startup,     ConfigSource::FileChange,          ConfigSource::Signal,
    ConfigSource::AdminReload, ConfigSource::CertificateRotation, ConfigSource::DnsRefresh,
    ConfigSource::ControlPlane, ConfigSource::Persisted,
};

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
  std::string text = readFile(options_.config_path);
  // An unreadable file reads as "": loadFile() then says why.
  auto loaded = text.empty() ? config::loadFile(options_.config_path)
                             : config::loadFileText(text, options_.config_path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) {
      std::fprintf(stderr, "%s\n", e.toString().c_str());
    }
    return false;
  }
  // With a control plane, the file gives the static part; the persisted state of the last run
  // (if any) is served until strait-cp answers.
  config::BootstrapSharedPtr file_config = loaded.bootstrap;
  config::BootstrapSharedPtr first = file_config;
  ConfigSource first_source = ConfigSource::Startup;
  if (file_config->control_plane) {
    static_canonical_ = file_config->canonical;
    secrets_dir_ = persistPath(*file_config) + ".secrets";
    if (config::BootstrapSharedPtr persisted = restorePersisted(*file_config)) {
      first = std::move(persisted);
      first_source = ConfigSource::Persisted;
    } else {
      config_ready_ = false;
    }
  }
  const auto& config = *first;
  uint32_t workers = options_.concurrency > 0 ? options_.concurrency : config.workers;
  if (workers == 0) {
    workers = std::max(1u, std::thread::hardware_concurrency());
  }
  store_ = std::make_unique<stats::Store>(workers);
  reload_total_ = store_->counter("strait_dp_config_reload_total", "Config reloads applied.");
  reload_rejected_ = store_->counter("strait_dp_config_reload_rejected_total",
                                     "Config reloads rejected (the old config kept serving).");
  for (ConfigSource source : kAllSources) {
    const stats::Labels labels{{"source", configSourceName(source)}};
    published_[source] = store_->counter(
        "strait_dp_config_publish_total",
        "Snapshots published to the workers, by what triggered them.", labels);
    publish_rejected_[source] = store_->counter(
        "strait_dp_config_publish_rejected_total",
        "Configs that could not be applied (the snapshot in force kept serving), by trigger.",
        labels);
  }
  config_version_ = store_->gauge("strait_dp_config_version", "Version of the config in force.");
  config_applied_time_ = store_->gauge("strait_dp_config_applied_time_seconds",
                                       "Unix time the config in force was applied.");
  workers_gauge_ = store_->gauge("strait_dp_workers", "Worker threads.");
  draining_gauge_ = store_->gauge("strait_dp_draining", "1 while the proxy is draining.");
  store_->mainShard().set(workers_gauge_, workers);

  access_log_ = std::make_unique<accesslog::Writer>();
  registerAccessLogStats();
  registerCarbonStats();
  std::string error;
  // No worker runs yet: publish() builds the first snapshot, which the workers start with.
  process_signals_.setWorkerCount(workers);
  if (!publish(first, {first_source, {}}, error)) {
    std::fprintf(stderr, "%s: %s\n", options_.config_path.c_str(), error.c_str());
    return false;
  }
  applied_file_hash_ = config::contentHash(text);
  for (uint32_t i = 0; i < workers; i++) {
    workers_.push_back(std::make_unique<Worker>(i, *store_, time_source_, access_log_.get(),
                                                &process_signals_));
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
  installSignals();
  startCpuSampling();
  startConfigWatch();
  if (file_config->control_plane && !startDiscovery(*file_config, error)) {
    std::fprintf(stderr, "%s: %s\n", options_.config_path.c_str(), error.c_str());
    return false;
  }
  STRAIT_LOG(Info, "admin on %s:%u; %u workers; config version %llu", admin_->address().c_str(),
             admin_->port(), workers, static_cast<unsigned long long>(snapshot_->version));
  if (!options_.admin_address_path.empty()) {
    std::string tmp = options_.admin_address_path + ".tmp";
    std::ofstream(tmp) << admin_->address() << ":" << admin_->port() << "\n";
    std::rename(tmp.c_str(), options_.admin_address_path.c_str());
  }
  return true;
}

bool Server::bindChangedListeners(const config::Bootstrap& config, ListenerChanges& changes,
                                  std::string& error) {
  auto sameAddress = [](const config::Listener& listener, const BoundListener& bound) {
    return listener.address == bound.address &&
           (listener.port == 0 || listener.port == bound.port);
  };
  for (const auto& bound : bound_) {
    auto it = std::find_if(config.listeners.begin(), config.listeners.end(),
                           [&](const config::Listener& l) { return l.name == bound.name; });
    if (it == config.listeners.end() || !sameAddress(*it, bound)) {
      changes.removed.push_back(bound.name);
    }
  }
  for (const auto& listener : config.listeners) {
    auto it = std::find_if(bound_.begin(), bound_.end(),
                           [&](const BoundListener& b) { return b.name == listener.name; });
    if (it != bound_.end() && sameAddress(listener, *it)) {
      continue;
    }
    BoundListener added{listener.name, listener.address, listener.port, {}};
    for (size_t i = 0; i < workers_.size(); i++) {
      uint16_t port = 0;
      int fd = network::bindListenSocket(listener.address, added.port, 1024, port, error);
      if (fd < 0) {
        error = "listener " + listener.name + ": " + error;
        for (int open : added.fds) {
          ::close(open);
        }
        closeListeners(changes);
        return false;
      }
      added.port = port;
      added.fds.push_back(fd);
    }
    changes.added.push_back(std::move(added));
  }
  return true;
}

void Server::closeListeners(ListenerChanges& changes) {
  for (auto& added : changes.added) {
    for (int fd : added.fds) {
      ::close(fd);
    }
  }
  changes.added.clear();
}

void Server::applyListenerChanges(ListenerChanges& changes) {
  for (const std::string& name : changes.removed) {
    for (auto& worker : workers_) {
      worker->removeListener(name);
    }
    std::erase_if(bound_, [&](const BoundListener& b) { return b.name == name; });
    STRAIT_LOG(Info, "listener %s removed", name.c_str());
  }
  for (auto& added : changes.added) {
    for (size_t i = 0; i < workers_.size(); i++) {
      workers_[i]->addListeners({ListenSocket{added.name, added.fds[i]}});
      added.fds[i] = -1;  // owned by the worker's listener now
    }
    STRAIT_LOG(Info, "listener %s on %s:%u (%zu workers)", added.name.c_str(),
               added.address.c_str(), added.port, workers_.size());
    bound_.push_back(std::move(added));
  }
}

bool Server::publish(config::BootstrapSharedPtr config, SnapshotSource source, std::string& error,
                     const DnsOverride* dns_override) {
  const ConfigSource kind = source.kind;
  auto refuse = [&]() {
    store_->mainShard().inc(publish_rejected_[kind]);
    // As before the one publish path: file reloads and certificate rotations count as rejected
    // reloads; a DNS answer that cannot be applied does not.
    if (isFileSource(kind) || kind == ConfigSource::CertificateRotation) {
      store_->mainShard().inc(reload_rejected_);
    }
    return false;
  };
  auto started = std::chrono::steady_clock::now();
  // Listeners a reload adds (or moves) are bound first: a port that cannot be bound refuses
  // the config. (At startup bindListeners() binds them once the workers exist.)
  ListenerChanges listener_changes;
  if (snapshot_ != nullptr && !bindChangedListeners(*config, listener_changes, error)) {
    return refuse();
  }
  auto snapshot = buildSnapshot(config, snapshot_.get(), *store_, process_, next_version_,
                                std::move(source), error, dns_override);
  if (snapshot == nullptr) {
    closeListeners(listener_changes);
    return refuse();
  }
  if (!applyAccessLogConfig(*config, error)) {
    error = "access_log: " + error;
    closeListeners(listener_changes);
    return refuse();
  }
  next_version_++;
  snapshot_ = std::move(snapshot);
  activateSnapshot(*snapshot_);
  for (auto& worker : workers_) {
    worker->updateSnapshot(snapshot_);
  }
  applyListenerChanges(listener_changes);  // after the snapshot that names them
  syncUpstreamWatchers();
  syncTlsWatches();
  stats::Shard& main = store_->mainShard();
  main.inc(published_[kind]);
  if (isFileSource(kind)) {
    main.inc(reload_total_);
  }
  main.set(config_version_, static_cast<int64_t>(snapshot_->version));
  main.set(config_applied_time_, std::chrono::duration_cast<std::chrono::seconds>(
                                     snapshot_->applied_at.time_since_epoch())
                                     .count());
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started);
  const std::string& detail = snapshot_->source.detail;
  STRAIT_LOG(Info, "config version %llu applied (%s%s%s) in %.1f ms",
             static_cast<unsigned long long>(snapshot_->version), configSourceName(kind),
             detail.empty() ? "" : ": ", detail.c_str(), ms.count());
  return true;
}

void Server::startDrain(const std::string& trigger) {
  if (draining_) {
    return;
  }
  draining_ = true;
  process_signals_.setDraining();
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
  if (discovery_ != nullptr) {
    discovery_->stop();
  }
  dispatcher_.exit();
}

}  // namespace strait::server
