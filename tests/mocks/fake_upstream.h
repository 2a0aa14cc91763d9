#pragma once

// The upstream contract (strait/upstream/conn_pool.h) faked: pools whose connections the test
// hands out (or fails) when it likes, exchanges that record what the router sent and let the
// test answer, and a cluster that picks its pools in turn. The ClusterInfo is a real one
// (createClusterInfo), so stats and circuit breakers behave as in the proxy.

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proxy/upstream/cluster.h"
#include "strait/upstream/conn_pool.h"

namespace strait::testing {

// One exchange: what the router encoded, and the callbacks the test answers through.
class FakeClient : public upstream::UpstreamClient {
 public:
  explicit FakeClient(upstream::Host& host, bool reused = false) : host_(host), reused_(reused) {}

  // upstream::UpstreamClient
  void attach(upstream::UpstreamStreamCallbacks& stream) override { callbacks = &stream; }
  void encodeHeaders(const http::RequestHeaders& headers,
                     const http::http1::MessageInfo& info) override {
    request_path = headers.path;
    request_info = info;
    headers_sent = true;
  }
  void encodeData(buffer::Buffer& data, bool end_stream) override {
    body += data.toString();
    data.clear();
    ended = ended || end_stream;
  }
  void writeTunnel(buffer::Buffer& data) override {
    tunnel += data.toString();
    data.clear();
  }
  void readDisable(bool disable) override { read_disables += disable ? 1 : -1; }
  void resetStream() override {
    reset = true;
    callbacks = nullptr;
  }
  bool reused() const override { return reused_; }
  upstream::Host& host() override { return host_; }

  // The test answering: a head (and optionally a body and the end).
  void respond(uint16_t status, std::string_view response_body = {}, bool end = true) {
    http::ResponseHeaders headers;
    headers.status = status;
    http::http1::MessageInfo info;
    info.has_body = !response_body.empty() || !end;
    callbacks->onUpstreamReadBegin();
    callbacks->onUpstreamHeaders(headers, info);
    if (callbacks != nullptr && !response_body.empty()) {
      callbacks->onUpstreamData(response_body.data(), response_body.size());
    }
    if (callbacks != nullptr && end) {
      upstream::UpstreamStreamCallbacks* c = callbacks;
      callbacks = nullptr;  // the exchange is over: it goes back to its pool
      c->onUpstreamComplete();
      c->onUpstreamReadEnd();
    } else if (callbacks != nullptr) {
      callbacks->onUpstreamReadEnd();
    }
  }
  void fail(upstream::UpstreamFailure failure, std::string_view detail = "reset by peer") {
    upstream::UpstreamStreamCallbacks* c = callbacks;
    callbacks = nullptr;
    c->onUpstreamError(failure, detail);
  }

  upstream::UpstreamStreamCallbacks* callbacks = nullptr;
  std::string request_path;
  http::http1::MessageInfo request_info;
  bool headers_sent = false;
  std::string body;
  bool ended = false;
  std::string tunnel;
  int read_disables = 0;
  bool reset = false;

 private:
  upstream::Host& host_;
  const bool reused_;
};

// A pool for one host: newStream() waits until the test calls connect() or refuse().
class FakePool : public upstream::ConnPool {
 public:
  explicit FakePool(std::string address)
      : host_(std::move(address), 80, 1, config::Locality{}) {}

  class Pending : public upstream::PendingRequest {
   public:
    Pending(FakePool& pool, upstream::PoolCallbacks& callbacks)
        : pool_(pool), callbacks_(callbacks) {}
    void cancel() override { pool_.cancelled++; pool_.forget(this); }
    upstream::PoolCallbacks& callbacks() { return callbacks_; }

   private:
    FakePool& pool_;
    upstream::PoolCallbacks& callbacks_;
  };

  // upstream::ConnPool
  upstream::PendingRequest* newStream(upstream::PoolCallbacks& callbacks) override {
    requests++;
    waiting_.push_back(std::make_unique<Pending>(*this, callbacks));
    return waiting_.back().get();
  }
  void drain() override {}
  bool idle() const override { return waiting_.empty(); }
  upstream::Host& host() override { return host_; }

  // Gives the oldest waiting request an exchange; returns it for the test to answer.
  FakeClient& connect(bool reused = false) {
    std::unique_ptr<Pending> pending = std::move(waiting_.front());
    waiting_.pop_front();
    clients_.push_back(std::make_unique<FakeClient>(host_, reused));
    pending->callbacks().onPoolReady(*clients_.back());
    return *clients_.back();
  }
  // Fails the oldest waiting request.
  void refuse(upstream::UpstreamFailure failure, std::string_view detail = "connection refused") {
    std::unique_ptr<Pending> pending = std::move(waiting_.front());
    waiting_.pop_front();
    pending->callbacks().onPoolFailure(failure, detail);
  }
  size_t waiting() const { return waiting_.size(); }
  FakeClient& client(size_t i) { return *clients_.at(i); }
  size_t clients() const { return clients_.size(); }

  size_t requests = 0;
  size_t cancelled = 0;

 private:
  void forget(Pending* pending) {
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      if (it->get() == pending) {
        waiting_.erase(it);
        return;
      }
    }
  }

  upstream::Host host_;
  std::deque<std::unique_ptr<Pending>> waiting_;
  std::vector<std::unique_ptr<FakeClient>> clients_;
};

// A cluster over FakePools, picked in turn (skipping the excluded host while another remains).
class FakeCluster : public upstream::ThreadLocalCluster {
 public:
  FakeCluster(const config::Cluster& config, stats::Store& store, size_t hosts) {
    std::string error;
    info_ = upstream::createClusterInfo(config, std::make_shared<config::Bootstrap>(), store,
                                        error);
    for (size_t i = 0; i < hosts; i++) {
      pools.push_back(std::make_unique<FakePool>("10.0.0." + std::to_string(i + 1)));
    }
  }

  // upstream::ThreadLocalCluster
  const upstream::ClusterInfo& info() const override { return *info_; }
  upstream::ConnPool* choosePool(const upstream::LbContext& context) override {
    if (pools.empty()) {
      return nullptr;
    }
    for (size_t tries = 0; tries < pools.size(); tries++) {
      FakePool& pool = *pools[next_++ % pools.size()];
      if (&pool.host() != context.excluded || pools.size() == 1) {
        return &pool;
      }
    }
    return pools.front().get();
  }
  void addStream() override { streams++; }
  void removeStream() override { streams--; }

  FakePool& pool(size_t i) { return *pools.at(i); }

  std::vector<std::unique_ptr<FakePool>> pools;
  int streams = 0;

 private:
  upstream::ClusterInfoSharedPtr info_;
  size_t next_ = 0;
};

// A worker's clusters by name: the test adds the fakes it wants a route to find.
class FakeClusterManager : public upstream::ClusterManager {
 public:
  void add(const std::string& name, upstream::ThreadLocalCluster& cluster) {
    clusters_[name] = &cluster;
  }
  upstream::ThreadLocalCluster* getThreadLocalCluster(const std::string& name) override {
    auto it = clusters_.find(name);
    return it == clusters_.end() ? nullptr : it->second;
  }

 private:
  std::map<std::string, upstream::ThreadLocalCluster*> clusters_;
};

}  // namespace strait::testing
