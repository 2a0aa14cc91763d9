#include "perf/loadgen/generator.h"

#include <algorithm>
#include <limits>
#include <string_view>

namespace strait::loadgen {
namespace {

constexpr uint64_t kTickMs = 1;
constexpr std::string_view kOverloadedHeader = "x-strait-overloaded";

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

const char* outcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::Ok:
      return "ok";
    case Outcome::Timeout:
      return "timeout";
    case Outcome::Error:
      return "error";
    case Outcome::Drop:
      return "drop";
  }
  return "?";
}

uv_handle_t* asHandle(void* handle) {
  return static_cast<uv_handle_t*>(handle);
}

}  // namespace

Generator::Generator(Options options, FILE* out)
    : options_(std::move(options)), out_(out), engine_(options_.seed) {
  if (options_.mix.empty()) {
    options_.mix.push_back(MixClass{"-", 1});
  }
  std::vector<double> weights;
  for (const MixClass& mixClass : options_.mix) {
    std::string request = "GET " + options_.path + " HTTP/1.1\r\nhost: " + options_.host + "\r\n";
    if (!options_.mixHeader.empty()) {
      request += options_.mixHeader + ": " + mixClass.value + "\r\n";
    }
    request += "\r\n";
    requests_.push_back(std::move(request));
    weights.push_back(mixClass.weight);
  }
  pickClass_ = std::discrete_distribution<size_t>(weights.begin(), weights.end());
}

const llhttp_settings_t& Generator::parserSettings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_header_field = &Generator::onHeaderField;
    s.on_header_value = &Generator::onHeaderValue;
    s.on_message_complete = &Generator::onMessageComplete;
    return s;
  }();
  return settings;
}

int Generator::run() {
  if (uv_ip4_addr(options_.host.c_str(), options_.port, &address_) != 0) {
    std::fprintf(stderr, "strait-loadgen: bad IPv4 address %s\n", options_.host.c_str());
    return 2;
  }
  std::fputs("start_ms,latency_ms,status,class,stage,outcome,overloaded\n", out_);
  uv_loop_init(&loop_);
  uv_timer_init(&loop_, &ticker_);
  ticker_.data = this;
  stage_ = 0;
  stageEnd_ = options_.stages[0].seconds;
  nextArrival_ = 0;
  advance(true);
  beginNs_ = uv_hrtime();
  uv_timer_start(&ticker_, &Generator::onTick, kTickMs, kTickMs);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  std::fflush(out_);
  std::fprintf(stderr,
               "strait-loadgen: sent %lu answered %lu timeouts %lu errors %lu drops %lu "
               "connections opened %lu\n",
               static_cast<unsigned long>(sent_), static_cast<unsigned long>(answered_),
               static_cast<unsigned long>(timeouts_), static_cast<unsigned long>(errors_),
               static_cast<unsigned long>(drops_), static_cast<unsigned long>(opened_));
  return 0;
}

// ---- The schedule ----

double Generator::nextGapSeconds(double rate) {
  if (rate <= 0) {
    return std::numeric_limits<double>::infinity();
  }
  return options_.poisson ? std::exponential_distribution<double>(rate)(engine_) : 1.0 / rate;
}

void Generator::advance(bool first) {
  // Poisson arrivals are memoryless, so at a stage boundary the next gap simply restarts there
  // with the new rate; uniform arrivals restart at the boundary too.
  double next = (first ? 0 : nextArrival_) + nextGapSeconds(options_.stages[stage_].rate);
  while (next >= stageEnd_) {
    if (++stage_ == options_.stages.size()) {
      sending_ = false;
      stopAtNs_ = static_cast<uint64_t>(stageEnd_ * 1e9) + options_.timeoutMs * 1000000;
      return;
    }
    double start = stageEnd_;
    stageEnd_ += options_.stages[stage_].seconds;
    next = start + nextGapSeconds(options_.stages[stage_].rate);
  }
  nextArrival_ = next;
}

void Generator::onTick(uv_timer_t* timer) {
  auto* self = static_cast<Generator*>(timer->data);
  const uint64_t nowNs = uv_hrtime() - self->beginNs_;
  while (self->sending_ && self->nextArrival_ * 1e9 <= static_cast<double>(nowNs)) {
    // Latency counts from the scheduled time, so a late send is charged, not hidden.
    self->startRequest(self->pickClass_(self->engine_), self->stage_,
                       static_cast<uint64_t>(self->nextArrival_ * 1e9));
    self->advance(false);
  }
  self->maybeStop(nowNs);
}

void Generator::maybeStop(uint64_t nowNs) {
  if (sending_ || stopping_ || (inFlight_ > 0 && nowNs < stopAtNs_)) {
    return;
  }
  stopping_ = true;
  uv_timer_stop(&ticker_);
  uv_close(asHandle(&ticker_), nullptr);
  std::vector<Client*> open(all_.begin(), all_.end());
  for (Client* client : open) {
    finish(client, 0, Outcome::Timeout);
    closeClient(client);
  }
}

// ---- Requests and connections ----

void Generator::startRequest(size_t mixIndex, size_t stage, uint64_t startNs) {
  ++sent_;
  Client* client = nullptr;
  if (!idle_.empty()) {
    // Most recently used first: a few warm connections carry a light load.
    client = idle_.back();
    idle_.pop_back();
  } else if (open_ < options_.connections) {
    client = openClient();
  } else {
    ++drops_;
    record(startNs, 0, 0, mixIndex, stage, Outcome::Drop, false);
    return;
  }
  client->busy = true;
  client->overloaded = false;
  client->startNs = startNs;
  client->mixIndex = mixIndex;
  client->stage = stage;
  ++inFlight_;
  uv_timer_start(&client->timer, &Generator::onTimeout, options_.timeoutMs, 0);
  if (client->connected) {
    send(client);
  }
}

Generator::Client* Generator::openClient() {
  auto* client = new Client;
  client->owner = this;
  client->tcp.data = client;
  client->timer.data = client;
  client->connectReq.data = client;
  client->writeReq.data = client;
  llhttp_init(&client->parser, HTTP_RESPONSE, &parserSettings());
  client->parser.data = client;
  uv_tcp_init(&loop_, &client->tcp);
  uv_timer_init(&loop_, &client->timer);
  client->openHandles = 2;
  ++open_;
  ++opened_;
  all_.insert(client);
  int rc = uv_tcp_connect(&client->connectReq, &client->tcp,
                          reinterpret_cast<const sockaddr*>(&address_), &Generator::onConnect);
  if (rc != 0) {
    // Closed once the caller has marked the request, so it is recorded as an error.
    uv_timer_start(&client->timer, &Generator::onTimeout, 0, 0);
  }
  return client;
}

void Generator::onConnect(uv_connect_t* req, int status) {
  auto* client = static_cast<Client*>(req->data);
  Generator* self = client->owner;
  if (client->closing) {
    return;
  }
  if (status < 0) {
    self->finish(client, 0, Outcome::Error);
    self->closeClient(client);
    return;
  }
  client->connected = true;
  uv_tcp_nodelay(&client->tcp, 1);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&client->tcp), &Generator::onAlloc,
                &Generator::onRead);
  if (client->busy) {
    self->send(client);
  }
}

void Generator::send(Client* client) {
  const std::string& request = requests_[client->mixIndex];
  uv_buf_t buf = uv_buf_init(const_cast<char*>(request.data()), request.size());
  if (uv_write(&client->writeReq, reinterpret_cast<uv_stream_t*>(&client->tcp), &buf, 1,
               &Generator::onWrite) != 0) {
    finish(client, 0, Outcome::Error);
    closeClient(client);
  }
}

void Generator::onWrite(uv_write_t* req, int status) {
  auto* client = static_cast<Client*>(req->data);
  if (status < 0 && !client->closing) {
    client->owner->finish(client, 0, Outcome::Error);
    client->owner->closeClient(client);
  }
}

void Generator::onAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* client = static_cast<Client*>(handle->data);
  *buf = uv_buf_init(client->readBuffer, sizeof(client->readBuffer));
}

void Generator::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* client = static_cast<Client*>(stream->data);
  Generator* self = client->owner;
  if (client->closing || nread == 0) {
    return;
  }
  if (nread < 0) {
    // A server closing an idle keep-alive connection is normal; with a request on it, an error.
    self->finish(client, 0, Outcome::Error);
    self->closeClient(client);
    return;
  }
  llhttp_errno_t err = llhttp_execute(&client->parser, buf->base, static_cast<size_t>(nread));
  if (err != HPE_OK && !client->closing) {
    self->finish(client, 0, Outcome::Error);
    self->closeClient(client);
  }
}

int Generator::onHeaderField(llhttp_t* parser, const char* at, size_t length) {
  auto* client = static_cast<Client*>(parser->data);
  client->matchingOverloadHeader = equalsIgnoreCase({at, length}, kOverloadedHeader);
  return 0;
}

int Generator::onHeaderValue(llhttp_t* parser, const char* at, size_t length) {
  auto* client = static_cast<Client*>(parser->data);
  if (client->matchingOverloadHeader && equalsIgnoreCase({at, length}, "true")) {
    client->overloaded = true;
  }
  return 0;
}

int Generator::onMessageComplete(llhttp_t* parser) {
  auto* client = static_cast<Client*>(parser->data);
  Generator* self = client->owner;
  const bool keepAlive = llhttp_should_keep_alive(parser) != 0;
  self->finish(client, parser->status_code, Outcome::Ok);
  if (!keepAlive) {
    self->closeClient(client);
  } else if (!self->stopping_) {
    self->idle_.push_back(client);
  }
  return 0;
}

void Generator::onTimeout(uv_timer_t* timer) {
  auto* client = static_cast<Client*>(timer->data);
  Generator* self = client->owner;
  // An HTTP/1.1 connection with an unanswered request cannot be reused.
  self->finish(client, 0, client->connected ? Outcome::Timeout : Outcome::Error);
  self->closeClient(client);
}

void Generator::finish(Client* client, int status, Outcome outcome) {
  if (!client->busy) {
    return;
  }
  client->busy = false;
  uv_timer_stop(&client->timer);
  --inFlight_;
  const uint64_t nowNs = uv_hrtime() - beginNs_;
  const uint64_t latencyNs = nowNs > client->startNs ? nowNs - client->startNs : 0;
  switch (outcome) {
    case Outcome::Ok:
      ++answered_;
      break;
    case Outcome::Timeout:
      ++timeouts_;
      break;
    case Outcome::Error:
      ++errors_;
      break;
    case Outcome::Drop:
      ++drops_;
      break;
  }
  record(client->startNs, latencyNs, status, client->mixIndex, client->stage, outcome,
         client->overloaded);
}

void Generator::closeClient(Client* client) {
  if (client->closing) {
    return;
  }
  client->closing = true;
  if (auto it = std::find(idle_.begin(), idle_.end(), client); it != idle_.end()) {
    idle_.erase(it);
  }
  all_.erase(client);
  --open_;
  uv_timer_stop(&client->timer);
  uv_close(asHandle(&client->timer), &Generator::onClose);
  uv_close(asHandle(&client->tcp), &Generator::onClose);
}

void Generator::onClose(uv_handle_t* handle) {
  auto* client = static_cast<Client*>(handle->data);
  if (--client->openHandles == 0) {
    delete client;
  }
}

void Generator::record(uint64_t startNs, uint64_t latencyNs, int status, size_t mixIndex,
                       size_t stage, Outcome outcome, bool overloaded) {
  std::fprintf(out_, "%.3f,%.3f,%d,%s,%zu,%s,%d\n", static_cast<double>(startNs) / 1e6,
               static_cast<double>(latencyNs) / 1e6, status, options_.mix[mixIndex].value.c_str(),
               stage, outcomeName(outcome), overloaded ? 1 : 0);
}

}  // namespace strait::loadgen
