// strait-cp: reads the desired mesh from a directory of YAML files (one folder per proxy group),
// serves each group's snapshot to its proxies over the discovery protocol, and keeps what each
// proxy accepted. Usage: strait-cp --help.

#include <uv.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "control/admin.h"
#include "control/discovery_server.h"
#include "control/http_server.h"
#include "control/snapshot_store.h"
#include "control/source.h"
#include "filters/parsers.h"

namespace {

using namespace strait::cp;

const char* kUsage =
    "usage: strait-cp --source DIR [--listen 127.0.0.1:18000] [--admin 127.0.0.1:18001]\n"
    "                 [--tls-cert F --tls-key F --tls-ca F] [--max-shrink 50%]\n"
    "                 [--hold 30s] [--watch-interval 500ms] [--id NAME] [--force]\n"
    "                 [--share-threshold 0.3] [--share-hold 30s]\n"
    "                 [--ports-file F]   (writes \"discovery PORT\\nadmin PORT\\n\" once listening)\n";

struct Options {
  std::string source;
  std::string listen = "127.0.0.1:18000";
  std::string admin = "127.0.0.1:18001";
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  double max_shrink = 0.5;
  uint64_t hold_ms = 30000;
  uint64_t watch_ms = 500;
  double share_threshold = 0.3;
  uint64_t share_hold_ms = 30000;
  std::string id = "strait-cp";
  std::string ports_file;
  bool force = false;
};

bool splitHostPort(const std::string& text, std::string& host, uint16_t& port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return false;
  }
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  char* end = nullptr;
  long value = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (end == nullptr || *end != '\0' || value < 0 || value > 65535 || host.empty()) {
    return false;
  }
  port = static_cast<uint16_t>(value);
  return true;
}

// "250ms", "30s", "2m".
bool parseDuration(const std::string& text, uint64_t& ms) {
  char* end = nullptr;
  unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (end == text.c_str()) {
    return false;
  }
  std::string unit(end);
  uint64_t scale = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60000 : 0;
  if (scale == 0) {
    return false;
  }
  ms = n * scale;
  return true;
}

bool parseArgs(int argc, char** argv, Options& options, std::string& error) {
  for (int i = 1; i < argc; i++) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (flag == "--force") {
      options.force = true;
      continue;
    }
    if (i + 1 >= argc) {
      error = flag + " needs a value";
      return false;
    }
    std::string value = argv[++i];
    if (flag == "--source") {
      options.source = value;
    } else if (flag == "--listen") {
      options.listen = value;
    } else if (flag == "--admin") {
      options.admin = value;
    } else if (flag == "--tls-cert") {
      options.tls_cert = value;
    } else if (flag == "--tls-key") {
      options.tls_key = value;
    } else if (flag == "--tls-ca") {
      options.tls_ca = value;
    } else if (flag == "--ports-file") {
      options.ports_file = value;
    } else if (flag == "--id") {
      options.id = value;
    } else if (flag == "--max-shrink") {
      char* end = nullptr;
      double percent = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || std::string(end) != "%" || percent < 0 || percent > 100) {
        error = "--max-shrink: expected a percentage such as 50%, got " + value;
        return false;
      }
      options.max_shrink = percent / 100;
    } else if (flag == "--hold") {
      if (!parseDuration(value, options.hold_ms) || options.hold_ms == 0) {
        error = "--hold: expected a duration such as 30s, got " + value;
        return false;
      }
    } else if (flag == "--share-threshold") {
      char* end = nullptr;
      double distance = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || distance <= 0 || distance >= 2) {
        error = "--share-threshold: expected an L1 distance between 0 and 2 such as 0.3, got " +
                value;
        return false;
      }
      options.share_threshold = distance;
    } else if (flag == "--share-hold") {
      if (!parseDuration(value, options.share_hold_ms)) {
        error = "--share-hold: expected a duration such as 30s, got " + value;
        return false;
      }
    } else if (flag == "--watch-interval") {
      if (!parseDuration(value, options.watch_ms) || options.watch_ms == 0) {
        error = "--watch-interval: expected a duration such as 500ms, got " + value;
        return false;
      }
    } else {
      error = "unknown flag " + flag;
      return false;
    }
  }
  if (options.source.empty()) {
    error = "--source DIR is required";
    return false;
  }
  bool any_tls = !options.tls_cert.empty() || !options.tls_key.empty() || !options.tls_ca.empty();
  bool all_tls = !options.tls_cert.empty() && !options.tls_key.empty() && !options.tls_ca.empty();
  if (any_tls && !all_tls) {
    error = "--tls-cert, --tls-key and --tls-ca go together (mTLS with the proxies)";
    return false;
  }
  return true;
}

// The source watch: reads the directory when its content changed and stayed the same for one
// more interval (a debounce: an editor or `cp -r` writing several files is read once).
struct Watch {
  Options* options = nullptr;
  SnapshotStore* store = nullptr;
  ControlPlaneState* state = nullptr;
  std::map<std::string, std::vector<strait::config::ConfigError>>* errors = nullptr;
  std::string read_fingerprint;  // of the last read
  std::string seen_fingerprint;  // of the last tick
  // When a tick first saw the source differ from the last read (convergence starts there).
  std::chrono::steady_clock::time_point changed_at{};
  ParsedFiles parsed;            // so that a change re-parses only the files it touched
  uv_timer_t timer;
};

void readSource(Watch& watch) {
  auto started = std::chrono::steady_clock::now();
  std::string fingerprint = sourceFingerprint(watch.options->source);
  SourceResult result = loadSource(watch.options->source, &watch.parsed);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                  .count();
  std::fprintf(stderr, "strait-cp: source read in %.1f ms (%zu groups valid, %zu with errors)\n",
               ms, result.groups.size(), result.errors.size());
  watch.state->snapshot_build.observe(std::chrono::steady_clock::now() - started);
  auto changed_at = watch.changed_at != std::chrono::steady_clock::time_point{} ? watch.changed_at
                                                                                : started;
  watch.changed_at = {};
  watch.read_fingerprint = fingerprint;
  watch.state->source_reads++;
  *watch.errors = result.errors;
  if (!result.errors.empty()) {
    watch.state->source_errors_total++;
    for (const auto& [group, errors] : result.errors) {
      for (const auto& error : errors) {
        std::fprintf(stderr, "strait-cp: group %s keeps its last good snapshot: %s\n",
                     group.c_str(), error.toString().c_str());
      }
    }
  }
  std::set<std::string> present;
  for (auto& [group, snapshot] : result.groups) {
    present.insert(group);
    snapshot.changed_at = changed_at;
    bool published = watch.store->offer(std::move(snapshot), watch.options->force);
    if (!published && watch.store->refused().count(group) != 0) {
      std::fprintf(stderr, "strait-cp: group %s: snapshot refused: %s (POST /force/%s to publish it)\n",
                   group.c_str(), watch.store->refused().at(group).reason.c_str(), group.c_str());
    }
  }
  for (const std::string& group : watch.store->groups()) {
    if (present.count(group) == 0 && result.errors.count(group) == 0) {
      if (!watch.store->offerRemoved(group, watch.options->force)) {
        std::fprintf(stderr, "strait-cp: group %s: its folder is gone; refused (POST /force/%s)\n",
                     group.c_str(), group.c_str());
      }
    }
  }
  watch.state->source_read = true;
}

void onWatchTick(uv_timer_t* timer) {
  Watch& watch = *static_cast<Watch*>(timer->data);
  std::string fingerprint = sourceFingerprint(watch.options->source);
  if (fingerprint != watch.read_fingerprint &&
      watch.changed_at == std::chrono::steady_clock::time_point{}) {
    watch.changed_at = std::chrono::steady_clock::now();
  }
  if (fingerprint != watch.read_fingerprint && fingerprint == watch.seen_fingerprint) {
    readSource(watch);
  }
  watch.seen_fingerprint = fingerprint;
}

uv_signal_t sigterm;
uv_signal_t sigint;

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  // Filter blocks are validated by the filters' own parsers, as the proxy does.
  strait::filters::registerBuiltinFilterParsers();
  Options options;
  std::string error;
  if (!parseArgs(argc, argv, options, error)) {
    std::fprintf(stderr, "strait-cp: %s\n%s", error.c_str(), kUsage);
    return 2;
  }
  std::string listen_host;
  std::string admin_host;
  uint16_t listen_port = 0;
  uint16_t admin_port = 0;
  if (!splitHostPort(options.listen, listen_host, listen_port) ||
      !splitHostPort(options.admin, admin_host, admin_port)) {
    std::fprintf(stderr, "strait-cp: --listen and --admin take host:port\n");
    return 2;
  }
  bool tls = !options.tls_cert.empty();
  if (!tls && listen_host != "127.0.0.1" && listen_host != "::1" && listen_host != "localhost") {
    std::fprintf(stderr,
                 "strait-cp: without --tls-cert/--tls-key/--tls-ca the discovery port serves "
                 "plaintext on loopback only (got %s)\n",
                 listen_host.c_str());
    return 2;
  }

  uv_loop_t* loop = uv_default_loop();
  SnapshotStore store(options.max_shrink);
  DiscoveryServerOptions discovery_options;
  discovery_options.identifier = options.id;
  discovery_options.hold = std::chrono::milliseconds(options.hold_ms);
  discovery_options.divergence.share_l1_threshold = options.share_threshold;
  discovery_options.divergence.share_hold = std::chrono::milliseconds(options.share_hold_ms);
  discovery_options.require_identity = tls;
  DiscoveryServer discovery(loop, store, discovery_options);
  std::map<std::string, std::vector<strait::config::ConfigError>> source_errors;
  ControlPlaneState state{store, discovery, source_errors};
  store.setOnPublish([&](const std::string& group, const GroupSnapshotPtr& snapshot) {
    std::fprintf(stderr, "strait-cp: group %s: published %s\n", group.c_str(),
                 snapshot != nullptr ? snapshot->fingerprint().c_str() : "(removed)");
    discovery.onPublish(group);
  });

  Watch watch;
  watch.options = &options;
  watch.store = &store;
  watch.state = &state;
  watch.errors = &source_errors;
  readSource(watch);
  watch.seen_fingerprint = watch.read_fingerprint;
  uv_timer_init(loop, &watch.timer);
  watch.timer.data = &watch;
  uv_timer_start(&watch.timer, onWatchTick, options.watch_ms, options.watch_ms);

  HttpServerOptions discovery_http;
  if (tls) {
    discovery_http.cert_file = options.tls_cert;
    discovery_http.key_file = options.tls_key;
    discovery_http.ca_file = options.tls_ca;
  }
  HttpServer discovery_server(loop, discovery_http, [&](const ExchangePtr& exchange) {
    if (!discovery.handle(exchange)) {
      exchange->respond(404, "text/plain",
                        "not a discovery path (POST /v1/discovery, POST /v1/discovery/<type>)\n");
    }
  });
  HttpServer admin_server(loop, HttpServerOptions{},
                          [&](const ExchangePtr& exchange) { serveAdmin(exchange, state); });
  if (!discovery_server.listen(listen_host, listen_port, error)) {
    std::fprintf(stderr, "strait-cp: cannot listen on %s: %s\n", options.listen.c_str(),
                 error.c_str());
    return 1;
  }
  if (!admin_server.listen(admin_host, admin_port, error)) {
    std::fprintf(stderr, "strait-cp: cannot listen on %s: %s\n", options.admin.c_str(),
                 error.c_str());
    return 1;
  }
  // Tests start on port 0 and read the ports from here.
  std::fprintf(stderr, "strait-cp: discovery on %s:%u (%s), admin on %s:%u\n",
               listen_host.c_str(), discovery_server.port(), tls ? "mTLS" : "plaintext",
               admin_host.c_str(), admin_server.port());
  if (!tls) {
    std::fprintf(stderr, "strait-cp: no TLS flags: plaintext, loopback only\n");
  }
  if (!options.ports_file.empty()) {
    // Written whole under a temporary name and renamed: a reader never sees half of it.
    std::string temp = options.ports_file + ".tmp";
    FILE* f = std::fopen(temp.c_str(), "w");
    if (f == nullptr || std::fprintf(f, "discovery %u\nadmin %u\n", discovery_server.port(),
                                     admin_server.port()) < 0 ||
        std::fclose(f) != 0 || std::rename(temp.c_str(), options.ports_file.c_str()) != 0) {
      std::fprintf(stderr, "strait-cp: cannot write %s\n", options.ports_file.c_str());
      return 1;
    }
  }

  struct Stop {
    HttpServer* a;
    HttpServer* b;
    uv_timer_t* watch;
  } stop{&discovery_server, &admin_server, &watch.timer};
  for (auto [handle, signum] : {std::pair{&sigterm, SIGTERM}, std::pair{&sigint, SIGINT}}) {
    uv_signal_init(loop, handle);
    handle->data = &stop;
    uv_signal_start(
        handle,
        [](uv_signal_t* signal, int) {
          Stop* s = static_cast<Stop*>(signal->data);
          s->a->close();
          s->b->close();
          uv_timer_stop(s->watch);
          uv_close(reinterpret_cast<uv_handle_t*>(s->watch), nullptr);
          uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
          uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
        },
        signum);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  std::fprintf(stderr, "strait-cp: stopped\n");
  return 0;
}
