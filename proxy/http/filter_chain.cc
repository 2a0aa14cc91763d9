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
  void sendLocalReply(uint16_t status, std::string_view body, std::string_view flag,
                      const std::vector<HeaderEntry>& headers) override {
    if (chain_.ended_) {
      return;
    }
    chain_.ended_ = true;
    chain_.decode_stopped_ = false;
    chain_.owner_.onFilterLocalReply(status, body, flag, headers);
  }
  void resetStream(std::string_view flag) override {
    if (chain_.ended_) {
      return;
    }
    chain_.ended_ = true;
    chain_.decode_stopped_ = false;
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

 private:
  FilterChain& chain_;
  const size_t index_;
  StreamFilterPtr filter_;
};

FilterChain::FilterChain(FilterChainOwner& owner, const std::vector<FilterFactoryPtr>& factories)
    : owner_(owner) {
  slots_.reserve(factories.size());
  for (const auto& factory : factories) {
    auto slot = std::make_unique<Slot>(*this, slots_.size(), factory->createFilter());
    slot->filter().setCallbacks(*slot);
    slots_.push_back(std::move(slot));
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
  for (auto& slot : slots_) {
    slot->filter().onDestroy();
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
    FilterStatus status = slots_[i]->filter().decodeHeaders(*request_, request_end_stream_);
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

void FilterChain::encodeHeaders(ResponseHeaders& headers, bool end_stream) {
  for (size_t i = slots_.size(); i-- > 0;) {
    slots_[i]->filter().encodeHeaders(headers, end_stream);
  }
}

void FilterChain::encodeData(buffer::Buffer& data, bool end_stream) {
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
    if (slots_[i]->filter().encodeData(data, end_stream) == FilterStatus::StopIteration) {
      return;  // the filter holds what it took and injects it later
    }
  }
  if (!destroyed_) {
    owner_.onEncodedData(data, end_stream);
  }
}

}  // namespace strait::http
