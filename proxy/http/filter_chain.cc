#include "proxy/http/filter_chain.h"

namespace strait::http {

// One filter and the callbacks it was given: the callbacks know the filter's position, so that
// continueDecoding() and injectEncodedData() resume from the right place.
class FilterChain::Slot : public StreamFilterCallbacks {
 public:
  Slot(FilterChain& chain, size_t index, StreamFilterPtr filter)
      : chain_(chain), index_(index), filter_(std::move(filter)) {}

  StreamFilter& filter() { return *filter_; }
  size_t index() const { return index_; }

  void continueDecoding() override { chain_.continueDecodingFrom(*this); }
  void continueEncoding() override { chain_.continueEncodingFrom(*this); }
  bool canHoldResponseHeaders() const override {
    return chain_.encoding_headers_ && chain_.encode_holdable_;
  }
  void sendLocalReply(uint16_t status, std::string_view body, std::string_view flag,
                      const std::vector<HeaderEntry>& headers) override {
    if (chain_.ended_) {
      return;
    }
    chain_.ended_ = true;
    chain_.decode_stopped_ = false;
    chain_.encode_stopped_ = false;
    chain_.owner_.onFilterLocalReply(status, body, flag, headers);
  }
  void resetStream(std::string_view flag) override {
    if (chain_.ended_) {
      return;
    }
    chain_.ended_ = true;
    chain_.decode_stopped_ = false;
    chain_.encode_stopped_ = false;
    chain_.owner_.onFilterReset(flag);
  }
  void addResponseFlag(std::string_view flag) override {
    if (!chain_.ended_) {
      chain_.owner_.onFilterFlag(flag);
    }
  }
  void injectEncodedData(buffer::Buffer& data, bool end_stream) override {
    if (chain_.destroyed_) {
      return;
    }
    // Past this filter: the ones before it in the list (after it on the way out).
    if (index_ == 0) {
      chain_.owner_.onEncodedData(data, end_stream);
    } else {
      chain_.runEncodeData(index_ - 1, data, end_stream);
    }
  }
  void setUpstreamReadDisabled(bool disabled) override {
    if (!chain_.destroyed_) {
      chain_.owner_.onFilterUpstreamReadDisabled(disabled);
    }
  }
  const RequestHeaders& requestHeaders() const override {
    return chain_.owner_.filterRequestHeaders();
  }
  const config::Route* route() const override { return chain_.owner_.filterRoute(); }
  std::string_view clusterName() const override { return chain_.owner_.filterClusterName(); }
  const std::string& principal() const override { return chain_.owner_.filterPrincipal(); }
  event::Dispatcher& dispatcher() override { return chain_.owner_.filterDispatcher(); }
  RandomGenerator& random() override { return chain_.owner_.filterRandom(); }
  const TimeSource& timeSource() const override { return chain_.owner_.filterTimeSource(); }
  stats::Shard& statsShard() override { return chain_.owner_.filterStatsShard(); }
  uint32_t workerIndex() const override { return chain_.owner_.filterWorkerIndex(); }
  void markOverloaded() override { chain_.owner_.onFilterOverloaded(); }

 private:
  FilterChain& chain_;
  const size_t index_;
  StreamFilterPtr filter_;
};

FilterChain::FilterChain(FilterChainOwner& owner, const std::vector<FilterFactoryPtr>& factories)
    : owner_(owner) {
  slots_.reserve(factories.size());
  for (const auto& factory : factories) {
    slots_.emplace_back(*this, slots_.size(), factory->createFilter());
  }
  for (Slot& slot : slots_) {
    slot.filter().setCallbacks(slot);
  }
}

FilterChain::~FilterChain() { destroy(); }

void FilterChain::destroy() {
  if (destroyed_) {
    return;
  }
  destroyed_ = true;
  ended_ = true;
  decode_stopped_ = false;
  encode_stopped_ = false;
  for (auto& slot : slots_) {
    slot.filter().onDestroy();
  }
}

void FilterChain::decodeHeaders(RequestHeaders& headers, bool end_stream) {
  request_ = &headers;
  request_end_stream_ = end_stream;
  runDecode(0);
}

void FilterChain::runDecode(size_t from) {
  decode_stopped_ = false;
  for (size_t i = from; i < slots_.size(); i++) {
    if (ended_) {
      return;
    }
    decoding_ = true;
    continue_requested_ = false;
    FilterStatus status = slots_[i].filter().decodeHeaders(*request_, request_end_stream_);
    decoding_ = false;
    if (ended_) {
      return;  // the filter answered or reset the request itself
    }
    if (status == FilterStatus::StopIteration && !continue_requested_) {
      decode_next_ = i + 1;
      decode_stopped_ = true;
      return;
    }
  }
  decode_done_ = true;
  owner_.onDecodeFiltersDone();
}

void FilterChain::continueDecodingFrom(const Slot& slot) {
  if (ended_ || decode_done_) {
    return;
  }
  if (decoding_) {
    // Called from inside the filter's own decodeHeaders(): treat its StopIteration as Continue.
    continue_requested_ = true;
    return;
  }
  if (!decode_stopped_ || slot.index() + 1 != decode_next_) {
    return;  // only the filter that stopped may resume the chain
  }
  runDecode(decode_next_);
}

bool FilterChain::encodeHeaders(ResponseHeaders& headers, bool end_stream, bool holdable) {
  if (runEncodeHeaders(slots_.size(), headers, end_stream, holdable)) {
    return true;
  }
  if (encode_stopped_) {
    // Held: the owner's head may not outlive this call (an upstream codec reuses it), so the
    // chain keeps its own copy and the filters before the holding one see that copy later.
    held_headers_ = headers;
    held_headers_end_ = end_stream;
  }
  return false;
}

bool FilterChain::runEncodeHeaders(size_t before, ResponseHeaders& headers, bool end_stream,
                                   bool holdable) {
  for (size_t i = before; i-- > 0;) {
    encoding_headers_ = true;
    encode_holdable_ = holdable && !ended_;
    continue_encode_requested_ = false;
    FilterStatus status = slots_[i].filter().encodeHeaders(headers, end_stream);
    encoding_headers_ = false;
    if (holdable && ended_) {
      return false;  // the filter reset the stream: nothing more to encode
    }
    if (holdable && status == FilterStatus::StopIteration && !continue_encode_requested_) {
      encode_stopped_at_ = i;
      encode_stopped_ = true;
      return false;
    }
  }
  return true;
}

void FilterChain::continueEncodingFrom(const Slot& slot) {
  if (ended_) {
    return;
  }
  if (encoding_headers_) {
    // Called from inside the filter's own encodeHeaders(): its StopIteration counts as Continue.
    continue_encode_requested_ = true;
    return;
  }
  if (!encode_stopped_ || slot.index() != encode_stopped_at_) {
    return;  // only the filter that holds the head may release it
  }
  encode_stopped_ = false;
  if (!runEncodeHeaders(encode_stopped_at_, held_headers_, held_headers_end_, true)) {
    return;  // an earlier filter holds it in turn (or the stream ended)
  }
  owner_.onEncodeHeadersContinued(held_headers_, held_headers_end_);
  if (destroyed_) {
    return;
  }
  setHeldBodyReadDisabled(false);
  if (!held_body_.empty() || held_body_end_) {
    buffer::Buffer body;
    body.move(held_body_);
    encodeData(body, held_body_end_);
  }
}

void FilterChain::setHeldBodyReadDisabled(bool disabled) {
  if (disabled != held_body_read_disabled_) {
    held_body_read_disabled_ = disabled;
    owner_.onFilterUpstreamReadDisabled(disabled);
  }
}

void FilterChain::encodeData(buffer::Buffer& data, bool end_stream) {
  if (encode_stopped_) {
    held_body_.move(data);
    held_body_end_ = held_body_end_ || end_stream;
    if (held_body_.length() > kHeldBodyHighWatermark) {
      setHeldBodyReadDisabled(true);
    }
    return;
  }
  if (slots_.empty()) {
    owner_.onEncodedData(data, end_stream);
    return;
  }
  runEncodeData(slots_.size() - 1, data, end_stream);
}

void FilterChain::runEncodeData(size_t from, buffer::Buffer& data, bool end_stream) {
  for (size_t i = from + 1; i-- > 0;) {
    if (destroyed_) {
      return;
    }
    if (slots_[i].filter().encodeData(data, end_stream) == FilterStatus::StopIteration) {
      return;  // the filter holds what it took and injects it later
    }
  }
  if (!destroyed_) {
    owner_.onEncodedData(data, end_stream);
  }
}

}  // namespace strait::http
