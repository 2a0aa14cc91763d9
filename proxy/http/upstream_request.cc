#include "proxy/http/upstream_request.h"

#include "proxy/http/router.h"
#include "proxy/upstream/cluster.h"

namespace strait::http {

namespace {

uint64_t microsBetween(MonotonicTime from, MonotonicTime to) {
  auto d = std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
  return d < 0 ? 0 : static_cast<uint64_t>(d);
}

}  // namespace

UpstreamRequest::UpstreamRequest(Router& router, upstream::ConnPool& pool, uint32_t number)
    : router_(router), pool_(pool), host_(pool.host()), number_(number) {}

UpstreamRequest::~UpstreamRequest() { release(true); }

void UpstreamRequest::start() {
  started_at_ = router_.dispatcher().approximateMonotonicTime();
  // newStream() either calls back now (and returns nullptr: the router may have released this
  // attempt meanwhile) or returns the wait, and calls back later.
  upstream::PendingRequest* pending = pool_.newStream(*this);
  if (pending != nullptr) {
    pending_ = pending;
  }
}

void UpstreamRequest::onPoolReady(upstream::UpstreamClient& client) {
  pending_ = nullptr;
  client_ = &client;
  client.attach(*this);
  state_ = State::AwaitingResponse;
  // The one place an attempt is counted in flight (and, in release(), out of it).
  host_.requestStarted();
  router_.shard().add(router_.clusterInfo().stats.rq_active, 1);
  router_.onAttemptReady(*this);
}

void UpstreamRequest::onPoolFailure(upstream::UpstreamFailure failure, std::string_view detail) {
  pending_ = nullptr;
  state_ = State::Released;
  router_.onAttemptPoolFailure(*this, failure, detail);
}

void UpstreamRequest::encodeHeaders(const RequestHeaders& headers,
                                    const http1::MessageInfo& info) {
  client_->encodeHeaders(headers, info);
}

void UpstreamRequest::encodeData(buffer::Buffer& data, bool end_stream) {
  bytes_sent_ += data.length();
  client_->encodeData(data, end_stream);
}

void UpstreamRequest::writeTunnel(buffer::Buffer& data) { client_->writeTunnel(data); }

void UpstreamRequest::setPaused(Pause reason, bool paused) {
  uint8_t bit = static_cast<uint8_t>(reason);
  if (client_ == nullptr || ((paused_ & bit) != 0) == paused) {
    return;
  }
  paused_ = static_cast<uint8_t>(paused ? paused_ | bit : paused_ & ~bit);
  client_->readDisable(paused);
}

void UpstreamRequest::release(bool reset) {
  if (!live()) {
    return;
  }
  if (pending_ != nullptr) {
    pending_->cancel();
    pending_ = nullptr;
  }
  bool complete = state_ == State::Responding && !reset;
  state_ = complete ? State::Complete : State::Released;
  if (client_ == nullptr) {
    return;
  }
  if (!reset) {
    // The connection goes back to the pool: it must not stay paused for the next stream.
    // (Read-disables nest: one enable per disable.)
    for (uint8_t bits = paused_; bits != 0; bits &= static_cast<uint8_t>(bits - 1)) {
      client_->readDisable(false);
    }
  }
  paused_ = 0;
  const upstream::ClusterInfo& info = router_.clusterInfo();
  stats::Shard& shard = router_.shard();
  host_.requestFinished();
  shard.sub(info.stats.rq_active, 1);
  if (status_ != 0) {
    info.stats.rq_by_class.inc(shard, status_);
    MonotonicTime now = router_.dispatcher().approximateMonotonicTime();
    shard.observeUs(info.stats.rq_time, microsBetween(started_at_, now));
  }
  upstream::UpstreamClient* client = client_;
  client_ = nullptr;
  if (reset) {
    client->resetStream();
  }
}

void UpstreamRequest::discardResponse() {
  status_ = 0;
  release(true);
}

void UpstreamRequest::reportOutlier(OutlierResult result, uint16_t status) {
  const upstream::ClusterInfo& info = router_.clusterInfo();
  if (info.outlier == nullptr) {
    return;
  }
  // A host an endpoint update removed meanwhile is counted but judges nothing (the detector
  // ejects only hosts of the set in force).
  router_.shard().inc(info.stats.outlier_reports);
  switch (result) {
    case OutlierResult::Status:
      info.outlier->reportStatus(host_, status);
      break;
    case OutlierResult::ConnectFailure:
      info.outlier->reportConnectFailure(host_);
      break;
    case OutlierResult::Reset:
      info.outlier->reportReset(host_);
      break;
    case OutlierResult::Timeout:
      info.outlier->reportTimeout(host_);
      break;
  }
}

// ---- from the exchange ----------------------------------------------------------------------

void UpstreamRequest::onUpstreamHeaders(ResponseHeaders& headers,
                                        const http1::MessageInfo& info) {
  status_ = headers.status;
  headers_at_ = router_.dispatcher().approximateMonotonicTime();
  state_ = State::Responding;
  router_.onAttemptHeaders(*this, headers, info);
}

void UpstreamRequest::onUpstreamData(const char* data, size_t len) {
  bytes_received_ += len;
  router_.onAttemptData(*this, data, len);
}

void UpstreamRequest::onUpstreamTrailers(HeaderMap& trailers) {
  router_.onAttemptTrailers(*this, trailers);
}

void UpstreamRequest::onUpstreamComplete() { router_.onAttemptComplete(*this); }

void UpstreamRequest::onUpstreamTunnelData(const char* data, size_t len) {
  router_.onAttemptTunnelData(*this, data, len);
}

void UpstreamRequest::onUpstreamError(upstream::UpstreamFailure failure,
                                      std::string_view detail) {
  reused_ = client_ != nullptr && client_->reused();
  release(false);  // the exchange is over already: nothing to reset
  router_.onAttemptError(*this, failure, detail);
}

void UpstreamRequest::onUpstreamReadBegin() { router_.onAttemptReadBegin(*this); }
void UpstreamRequest::onUpstreamReadEnd() { router_.onAttemptReadEnd(*this); }
void UpstreamRequest::onUpstreamWriteBufferHigh() { router_.onAttemptWriteBufferHigh(*this); }
void UpstreamRequest::onUpstreamWriteBufferLow() { router_.onAttemptWriteBufferLow(*this); }

}  // namespace strait::http
