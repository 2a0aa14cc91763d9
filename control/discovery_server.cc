#include "control/discovery_server.h"

#include <uv.h>

#include <cstdio>

#include "config/report.h"

namespace strait::cp {

namespace {

using config::DiscoveryRequest;
using config::DiscoveryResponse;
using config::ResourceType;

constexpr std::string_view kStreamPath = "/v1/discovery";
constexpr std::string_view kReportPath = "/v1/report";
constexpr std::string_view kPollPrefix = "/v1/discovery/";

SteadyTime now() { return std::chrono::steady_clock::now(); }
SystemTime wallNow() { return std::chrono::system_clock::now(); }

std::string lines(const std::vector<DiscoveryResponse>& responses) {
  std::string out;
  for (const DiscoveryResponse& response : responses) {
    out += config::serialize(response);
    out.push_back('\n');
  }
  return out;
}

}  // namespace

struct DiscoveryServer::Stream {
  ExchangePtr exchange;
  std::string buffer;  // a line not complete yet
  std::shared_ptr<DiscoverySession> session;
  std::string node_id;
  std::string group;
  bool closed = false;
};

struct DiscoveryServer::Poll {
  ExchangePtr exchange;
  ResourceType type = ResourceType::Clusters;
  std::string body;
  std::shared_ptr<DiscoverySession> session;
  std::string group;
  uv_timer_t* timer = nullptr;  // while parked
  DiscoveryServer* server = nullptr;
  bool done = false;
  bool answered = false;  // a response went out (its exchange closing is not the proxy leaving)
};

DiscoveryServer::DiscoveryServer(uv_loop_s* loop, SnapshotStore& store,
                                 DiscoveryServerOptions options)
    : loop_(loop),
      store_(store),
      options_(std::move(options)),
      next_nonce_(makeNonceSource()),
      divergence_(options_.divergence) {}

DiscoveryServer::~DiscoveryServer() {
  for (const auto& poll : std::list<std::shared_ptr<Poll>>(polls_)) {
    closePoll(poll, 0);
  }
}

bool DiscoveryServer::handle(const ExchangePtr& exchange) {
  const std::string& path = exchange->request().path;
  std::string_view bare = std::string_view(path).substr(0, path.find('?'));
  if (bare == kStreamPath) {
    openStream(exchange);
    return true;
  }
  if (bare == kReportPath) {
    openReport(exchange);
    return true;
  }
  if (bare.substr(0, kPollPrefix.size()) == kPollPrefix) {
    std::optional<ResourceType> type = config::typeFromName(bare.substr(kPollPrefix.size()));
    if (!type.has_value()) {
      bad_requests_++;
      exchange->respond(404, "text/plain",
                        "unknown resource type \"" + std::string(bare.substr(kPollPrefix.size())) +
                            "\" (known: clusters, endpoints, listeners, routes, secrets, "
                            "filter_configs, carbon_signals)\n");
      return true;
    }
    openPoll(exchange, *type);
    return true;
  }
  return false;
}

std::optional<std::string> DiscoveryServer::checkIdentity(const HttpRequest& http,
                                                          const config::DiscoveryNode& node) {
  if (!options_.require_identity) {
    return std::nullopt;
  }
  std::string suffix = "/sa/" + node.cluster;
  const std::string& san = http.peer_uri_san;
  if (san.empty()) {
    return std::string("no client certificate identity (a URI SAN) was presented");
  }
  if (san.size() < suffix.size() || san.compare(san.size() - suffix.size(), suffix.size(),
                                                suffix) != 0) {
    return "identity " + san + " may not claim node.cluster \"" + node.cluster +
           "\" (expected an identity ending in " + suffix + ")";
  }
  return std::nullopt;
}

void DiscoveryServer::count(const std::vector<DiscoveryResponse>& sent) {
  for (const DiscoveryResponse& response : sent) {
    counters_[static_cast<size_t>(response.type)].pushes++;
  }
}

void DiscoveryServer::countRequest(ResourceType type, DiscoverySession::RequestKind kind) {
  TypeCounters& c = counters_[static_cast<size_t>(type)];
  switch (kind) {
    case DiscoverySession::RequestKind::Ack:
      c.acks++;
      break;
    case DiscoverySession::RequestKind::Nack:
      c.nacks++;
      break;
    case DiscoverySession::RequestKind::Stale:
      c.stale++;
      break;
    case DiscoverySession::RequestKind::Initial:
      break;
  }
}

void DiscoveryServer::answer(DiscoverySession& session, const DiscoveryRequest& request,
                             SteadyTime session_since) {
  std::optional<SentState> sent = session.state(request.type).sent;
  SteadyTime at = now();
  DiscoverySession::RequestKind kind = session.onRequest(request, at, wallNow());
  countRequest(request.type, kind);
  if (kind != DiscoverySession::RequestKind::Ack || !sent.has_value()) {
    return;
  }
  TypeCounters& c = counters_[static_cast<size_t>(request.type)];
  c.push_latency.observe(at - sent->at);
  // Convergence: the ACK of the version the node's snapshot holds now, by a node that was
  // there when the source changed.
  GroupSnapshotPtr snapshot = store_.find(session.node().cluster);
  if (snapshot == nullptr) {
    return;
  }
  const GroupSnapshot& mine = snapshot->forNode(session.node().id);
  if (mine.version(request.type) == sent->version && snapshot->changed_at != SteadyTime{} &&
      session_since <= snapshot->changed_at) {
    c.convergence.observe(at - snapshot->changed_at);
  }
}

// ---- the stream -----------------------------------------------------------------------------

void DiscoveryServer::openStream(const ExchangePtr& exchange) {
  if (exchange->request().method != "POST") {
    bad_requests_++;
    exchange->respond(405, "text/plain", "the discovery stream is a POST\n");
    return;
  }
  auto stream = std::make_shared<Stream>();
  stream->exchange = exchange;
  streams_.push_back(stream);
  std::weak_ptr<Stream> weak = stream;
  Exchange::Callbacks callbacks;
  callbacks.on_data = [this, weak](std::string_view data) {
    std::shared_ptr<Stream> s = weak.lock();
    if (s == nullptr || s->closed) {
      return;
    }
    s->buffer.append(data);
    size_t start = 0;
    size_t newline;
    while (!s->closed && (newline = s->buffer.find('\n', start)) != std::string::npos) {
      std::string line = s->buffer.substr(start, newline - start);
      start = newline + 1;
      if (!line.empty()) {
        onStreamLine(s, line);
      }
    }
    if (s->closed) {
      return;
    }
    s->buffer.erase(0, start);
    if (s->buffer.size() > config::kMaxMessageBytes) {
      bad_requests_++;
      s->exchange->finish();
      closeStream(s);
    }
  };
  callbacks.on_end = [this, weak]() {
    if (std::shared_ptr<Stream> s = weak.lock()) {
      s->exchange->finish();  // the proxy ended its side: so does the control plane
      closeStream(s);
    }
  };
  callbacks.on_close = [this, weak]() {
    if (std::shared_ptr<Stream> s = weak.lock()) {
      closeStream(s);
    }
  };
  exchange->setCallbacks(std::move(callbacks));
}

void DiscoveryServer::onStreamLine(const std::shared_ptr<Stream>& stream, std::string_view line) {
  std::string error;
  if (stream->session != nullptr && config::isReportLine(line)) {
    if (!onReport(stream->session->node(), line, error)) {
      bad_requests_++;
      std::fprintf(stderr, "strait-cp: discovery stream of %s: bad report: %s\n",
                   stream->node_id.c_str(), error.c_str());
      stream->exchange->finish();
      closeStream(stream);
    }
    return;
  }
  std::optional<DiscoveryRequest> request = config::parseRequest(line, error);
  if (request.has_value() && stream->session == nullptr &&
      (request->node.id.empty() || request->node.cluster.empty())) {
    error = "node.id and node.cluster are required in the first request";
    request.reset();
  }
  if (request.has_value() && stream->session != nullptr && !request->node.id.empty() &&
      request->node.id != stream->node_id) {
    error = "node.id: a stream serves one node (\"" + stream->node_id + "\")";
    request.reset();
  }
  if (!request.has_value()) {
    bad_requests_++;
    std::fprintf(stderr, "strait-cp: discovery stream from %s: bad request: %s\n",
                 stream->exchange->request().peer_address.c_str(), error.c_str());
    if (stream->session == nullptr) {
      stream->exchange->respond(400, "text/plain", "bad DiscoveryRequest: " + error + "\n");
    } else {
      stream->exchange->finish();
    }
    closeStream(stream);
    return;
  }
  if (stream->session == nullptr) {
    if (std::optional<std::string> refused =
            checkIdentity(stream->exchange->request(), request->node)) {
      rejected_identities_++;
      std::fprintf(stderr, "strait-cp: discovery stream from %s refused: %s\n",
                   stream->exchange->request().peer_address.c_str(), refused->c_str());
      stream->exchange->respond(403, "text/plain", *refused + "\n");
      closeStream(stream);
      return;
    }
    stream->node_id = request->node.id;
    stream->group = request->node.cluster;
    stream->session = std::make_shared<DiscoverySession>(request->node, options_.identifier,
                                                         next_nonce_);
    NodeEntry& entry = nodes_[request->node.id];
    entry.node = request->node;
    entry.session = stream->session;
    entry.transport = "stream";
    entry.connected = true;
    entry.session_since = now();
    stream->exchange->start(200, {{"content-type", "application/x-ndjson"}});
  }
  NodeEntry& entry = nodes_[stream->node_id];
  entry.last_seen = now();
  answer(*stream->session, *request, entry.session_since);
  pushStream(*stream);
}

void DiscoveryServer::pushStream(Stream& stream) {
  if (stream.session == nullptr || stream.closed) {
    return;
  }
  GroupSnapshotPtr snapshot = store_.find(stream.group);
  std::vector<DiscoveryResponse> sent = stream.session->pending(
      snapshot != nullptr ? &snapshot->forNode(stream.node_id) : nullptr, now());
  if (!sent.empty()) {
    count(sent);
    stream.exchange->write(lines(sent));
  }
}

void DiscoveryServer::closeStream(const std::shared_ptr<Stream>& stream) {
  if (stream->closed) {
    return;
  }
  stream->closed = true;
  streams_.remove(stream);
  auto it = nodes_.find(stream->node_id);
  if (it != nodes_.end() && it->second.session == stream->session) {
    it->second.connected = false;
    divergence_.onDisconnect(stream->node_id);
  }
}

size_t DiscoveryServer::connectedStreams() const { return streams_.size(); }

// ---- long-polls -----------------------------------------------------------------------------

void DiscoveryServer::openPoll(const ExchangePtr& exchange, ResourceType type) {
  if (exchange->request().method != "POST") {
    bad_requests_++;
    exchange->respond(405, "text/plain", "a discovery poll is a POST of a DiscoveryRequest\n");
    return;
  }
  auto poll = std::make_shared<Poll>();
  poll->exchange = exchange;
  poll->type = type;
  poll->server = this;
  polls_.push_back(poll);
  std::weak_ptr<Poll> weak = poll;
  Exchange::Callbacks callbacks;
  callbacks.on_data = [this, weak](std::string_view data) {
    std::shared_ptr<Poll> p = weak.lock();
    if (p == nullptr || p->done) {
      return;
    }
    p->body.append(data);
    if (p->body.size() > config::kMaxMessageBytes) {
      bad_requests_++;
      p->exchange->respond(413, "text/plain", "DiscoveryRequest over the size limit\n");
      closePoll(p, 0);
    }
  };
  callbacks.on_end = [this, weak]() {
    if (std::shared_ptr<Poll> p = weak.lock(); p != nullptr && !p->done) {
      onPollRequest(p, p->body);
    }
  };
  callbacks.on_close = [this, weak]() {
    if (std::shared_ptr<Poll> p = weak.lock()) {
      closePoll(p, 0);
    }
  };
  exchange->setCallbacks(std::move(callbacks));
}

void DiscoveryServer::onPollRequest(const std::shared_ptr<Poll>& poll, std::string_view body) {
  std::string error;
  std::optional<DiscoveryRequest> request = config::parseRequest(body, error, poll->type);
  if (request.has_value() && request->type != poll->type) {
    error = "type_url: " + config::typeUrl(request->type) + " does not match the path (" +
            config::typeUrl(poll->type) + ")";
    request.reset();
  }
  if (request.has_value() && (request->node.id.empty() || request->node.cluster.empty())) {
    error = "node.id and node.cluster are required";
    request.reset();
  }
  if (!request.has_value()) {
    bad_requests_++;
    poll->exchange->respond(400, "text/plain", "bad DiscoveryRequest: " + error + "\n");
    closePoll(poll, 0);
    return;
  }
  if (std::optional<std::string> refused = checkIdentity(poll->exchange->request(), request->node)) {
    rejected_identities_++;
    poll->exchange->respond(403, "text/plain", *refused + "\n");
    closePoll(poll, 0);
    return;
  }
  NodeEntry& entry = nodes_[request->node.id];
  if (entry.session == nullptr || entry.transport != "poll" ||
      entry.node.cluster != request->node.cluster) {
    entry.session = std::make_shared<DiscoverySession>(request->node, options_.identifier,
                                                       next_nonce_);
    entry.session_since = now();
  }
  entry.node = request->node;
  entry.transport = "poll";
  entry.connected = true;
  entry.last_seen = now();
  poll->session = entry.session;
  poll->group = request->node.cluster;
  answer(*poll->session, *request, entry.session_since);
  // An answer to one type may release another parked poll of this node (a removal waits until
  // every addition was answered).
  for (const auto& other : std::list<std::shared_ptr<Poll>>(polls_)) {
    if (other != poll && other->session == poll->session && !other->done &&
        other->timer != nullptr) {
      answerPoll(other);
    }
  }
  if (answerPoll(poll)) {
    return;
  }
  poll->timer = new uv_timer_t;
  uv_timer_init(loop_, poll->timer);
  poll->timer->data = poll.get();
  uv_timer_start(
      poll->timer,
      [](uv_timer_t* timer) {
        Poll* p = static_cast<Poll*>(timer->data);
        for (const auto& parked : p->server->polls_) {
          if (parked.get() == p) {
            p->server->closePoll(parked, 304);  // nothing new within the hold time
            return;
          }
        }
      },
      static_cast<uint64_t>(options_.hold.count()), 0);
}

bool DiscoveryServer::answerPoll(const std::shared_ptr<Poll>& poll) {
  GroupSnapshotPtr snapshot = store_.find(poll->group);
  std::vector<DiscoveryResponse> sent = poll->session->pending(
      snapshot != nullptr ? &snapshot->forNode(poll->session->node().id) : nullptr, now(),
      poll->type);
  if (sent.empty()) {
    return false;
  }
  count(sent);
  poll->answered = true;
  poll->exchange->respond(200, "application/json", lines(sent));
  closePoll(poll, 0);
  return true;
}

void DiscoveryServer::closePoll(const std::shared_ptr<Poll>& poll, int status) {
  if (poll->done) {
    return;
  }
  poll->done = true;
  if (status != 0) {
    poll->exchange->respond(status, "text/plain", "");
  }
  if (poll->timer != nullptr) {
    uv_timer_stop(poll->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(poll->timer),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
    poll->timer = nullptr;
  }
  std::shared_ptr<Poll> keep = poll;  // (the list may hold the last reference)
  polls_.remove(keep);
  bool parked = false;
  for (const auto& other : polls_) {
    parked = parked || (other->session == keep->session && keep->session != nullptr);
  }
  if (!parked && keep->session != nullptr) {
    auto it = nodes_.find(keep->session->node().id);
    if (it != nodes_.end() && it->second.session == keep->session && status == 0 &&
        !keep->answered && keep->exchange->closed()) {
      it->second.connected = false;  // the proxy went away mid-poll
    }
  }
}

// ---- publishing -----------------------------------------------------------------------------

void DiscoveryServer::onPublish(const std::string& group) {
  for (const auto& stream : std::list<std::shared_ptr<Stream>>(streams_)) {
    if (stream->group == group) {
      pushStream(*stream);
    }
  }
  for (const auto& poll : std::list<std::shared_ptr<Poll>>(polls_)) {
    if (poll->group == group && poll->session != nullptr && !poll->done) {
      answerPoll(poll);
    }
  }
}

std::vector<NodeView> DiscoveryServer::nodes() const {
  std::vector<NodeView> out;
  for (const auto& [id, entry] : nodes_) {
    out.push_back(NodeView{entry.node, entry.connected, entry.transport, entry.session.get(),
                           divergence_.report(id), entry.last_seen});
  }
  return out;
}

// ---- reports --------------------------------------------------------------------------------

DivergenceDetector::IntendedFn DiscoveryServer::intendedFn() const {
  return [this](const std::string& group, const std::string& node) -> const GroupSnapshot* {
    GroupSnapshotPtr snapshot = store_.find(group);
    // The store keeps the snapshot alive until the next publish, past this call's use.
    return snapshot != nullptr ? &snapshot->forNode(node) : nullptr;
  };
}

bool DiscoveryServer::onReport(const config::DiscoveryNode& node, std::string_view line,
                               std::string& error) {
  std::optional<config::ProxyReport> report = config::parseReport(line, error);
  if (!report.has_value()) {
    return false;
  }
  if (!report->node.id.empty() && report->node.id != node.id) {
    error = "report.node.id: \"" + report->node.id + "\" is not this stream's node (\"" + node.id +
            "\")";
    return false;
  }
  reports_++;
  SteadyTime at = now();
  auto it = nodes_.find(node.id);
  if (it != nodes_.end()) {
    it->second.last_seen = at;
  }
  report->node = node;
  divergence_.onReport(node.id, node.cluster, std::move(*report), at, intendedFn());
  return true;
}

// A report from a client without a stream (a long-poll one): POST /v1/report with one report,
// whose node must be one that polls.
void DiscoveryServer::openReport(const ExchangePtr& exchange) {
  if (exchange->request().method != "POST") {
    bad_requests_++;
    exchange->respond(405, "text/plain", "a report is a POST of {\"report\": {...}}\n");
    return;
  }
  auto body = std::make_shared<std::string>();
  std::weak_ptr<Exchange> weak = exchange;
  Exchange::Callbacks callbacks;
  callbacks.on_data = [body](std::string_view data) {
    if (body->size() <= config::kMaxMessageBytes) {
      body->append(data);
    }
  };
  callbacks.on_end = [this, body, weak]() {
    ExchangePtr exchange = weak.lock();
    if (exchange == nullptr) {
      return;
    }
    std::string error;
    std::optional<config::ProxyReport> report = config::parseReport(*body, error);
    if (report.has_value() && (report->node.id.empty() || report->node.cluster.empty())) {
      error = "report.node.id and report.node.cluster are required";
      report.reset();
    }
    if (report.has_value()) {
      if (std::optional<std::string> refused =
              checkIdentity(exchange->request(), report->node)) {
        rejected_identities_++;
        exchange->respond(403, "text/plain", *refused + "\n");
        return;
      }
      auto it = nodes_.find(report->node.id);
      if (it == nodes_.end() || it->second.node.cluster != report->node.cluster) {
        error = "report.node.id: node \"" + report->node.id + "\" of group \"" +
                report->node.cluster + "\" has not polled this replica";
        report.reset();
      }
    }
    if (!report.has_value() || !onReport(report->node, *body, error)) {
      bad_requests_++;
      exchange->respond(400, "text/plain", "bad report: " + error + "\n");
      return;
    }
    exchange->respond(204, "text/plain", "");
  };
  exchange->setCallbacks(std::move(callbacks));
}

std::vector<Finding> DiscoveryServer::findings(SteadyTime at) {
  return divergence_.findings(at, intendedFn());
}

}  // namespace strait::cp
