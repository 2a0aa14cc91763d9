#pragma once

// Runs one stream's filters (strait/http/filter.h): requests forward through the list, responses
// backward, with Continue/StopIteration, continueDecoding()/continueEncoding(), local replies,
// resets and held response data. The stream that owns the chain implements FilterChainOwner: what
// happens past the last filter (routing on the way in, the codec on the way out) and the stream's
// context.
//
// A held response head: encodeHeaders(..., holdable = true) returns false when a filter stopped
// it. The chain then keeps a copy of the head and every body byte given to encodeData() (asking
// the owner to pause the upstream while it holds more than kHeldBodyHighWatermark), and when the
// filter continues, hands the head to onEncodeHeadersContinued() and the body to onEncodedData().
//
// Scope: one per stream, on the stream's worker. A stream without filters has no chain at all.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "strait/http/filter.h"

namespace strait::http {

class FilterChainOwner {
 public:
  virtual ~FilterChainOwner() = default;
  // Every filter continued: the router takes the request.
  virtual void onDecodeFiltersDone() = 0;
  virtual void onFilterLocalReply(uint16_t status, std::string_view body, std::string_view flag,
                                  const std::vector<HeaderEntry>& headers) = 0;
  virtual void onFilterReset(std::string_view flag) = 0;
  virtual void onFilterFlag(std::string_view flag) = 0;
  // Response data past the first filter (the last on the way out): to the codec.
  virtual void onEncodedData(buffer::Buffer& data, bool end_stream) = 0;
  virtual void onFilterUpstreamReadDisabled(bool disabled) = 0;
  // A response head that encodeHeaders() held (it returned false) has passed every filter:
  // encode it now; the body held meanwhile follows through onEncodedData(). Only owners that
  // pass `holdable = true` to encodeHeaders() get this call, hence the empty default.
  virtual void onEncodeHeadersContinued(ResponseHeaders& headers, bool end_stream) {
    (void)headers;
    (void)end_stream;
  }

  virtual const RequestHeaders& filterRequestHeaders() const = 0;
  virtual const config::Route* filterRoute() const = 0;
  virtual std::string_view filterClusterName() const = 0;
  virtual const std::string& filterPrincipal() const = 0;
  virtual event::Dispatcher& filterDispatcher() = 0;
  virtual RandomGenerator& filterRandom() = 0;
  virtual const TimeSource& filterTimeSource() const = 0;
  virtual stats::Shard& filterStatsShard() = 0;
  // The worker running the stream (StreamFilterCallbacks::workerIndex()).
  virtual uint32_t filterWorkerIndex() const = 0;
  // StreamFilterCallbacks::markOverloaded().
  virtual void onFilterOverloaded() {}
};

class FilterChain {
 public:
  FilterChain(FilterChainOwner& owner, const std::vector<FilterFactoryPtr>& factories);
  ~FilterChain();

  // Runs the request head through the filters; ends in owner.onDecodeFiltersDone() unless a
  // filter stops (later continueDecoding()) or ends the stream.
  void decodeHeaders(RequestHeaders& headers, bool end_stream);
  // Every filter, last to first, may edit the response head. Returns true when every filter
  // continued: the owner encodes the head now. Returns false when a filter holds it (only when
  // `holdable`: an upstream response, whose owner implements onEncodeHeadersContinued()) or the
  // stream ended meanwhile: the owner encodes nothing for this response until
  // onEncodeHeadersContinued(). With `holdable` false (a local reply, a direct response) a
  // filter's StopIteration counts as Continue.
  bool encodeHeaders(ResponseHeaders& headers, bool end_stream, bool holdable = false);
  // Response body through the filters, last to first; ends in owner.onEncodedData(). While the
  // head is held, the chain keeps the body until the head goes on.
  void encodeData(buffer::Buffer& data, bool end_stream);
  // The stream is over: onDestroy() to every filter (once), and no callback acts any more.
  void destroy();

  bool empty() const { return slots_.empty(); }
  // A filter holds the request (StopIteration not yet continued).
  bool decodeStopped() const { return decode_stopped_; }
  // A filter holds the response head (StopIteration not yet continued).
  bool encodeStopped() const { return encode_stopped_; }

  // While the head is held, body bytes past this make the chain pause the upstream.
  static constexpr uint64_t kHeldBodyHighWatermark = 64 * 1024;

 private:
  class Slot;
  void runDecode(size_t from);
  // Runs encodeHeaders() of the filters before index `before` (last to first) on `headers`.
  bool runEncodeHeaders(size_t before, ResponseHeaders& headers, bool end_stream, bool holdable);
  void runEncodeData(size_t from, buffer::Buffer& data, bool end_stream);
  void continueDecodingFrom(const Slot& slot);
  void continueEncodingFrom(const Slot& slot);
  void setHeldBodyReadDisabled(bool disabled);

  FilterChainOwner& owner_;
  // One allocation for every slot: reserved once, never grown (each filter keeps a pointer to
  // its slot, its callbacks).
  std::vector<Slot> slots_;
  RequestHeaders* request_ = nullptr;
  bool request_end_stream_ = false;
  size_t decode_next_ = 0;        // the filter decodeHeaders() runs next
  bool decode_stopped_ = false;
  bool decoding_ = false;         // inside runDecode(): continueDecoding() is deferred
  bool continue_requested_ = false;
  bool decode_done_ = false;
  // The response head, while a filter holds it.
  ResponseHeaders held_headers_;
  bool held_headers_end_ = false;
  buffer::Buffer held_body_;              // body bytes that arrived while the head was held
  bool held_body_end_ = false;            // ... and the end of the response among them
  bool held_body_read_disabled_ = false;  // the chain paused the upstream (held_body_ is large)
  size_t encode_stopped_at_ = 0;          // the filter holding the head
  bool encode_stopped_ = false;
  bool encoding_headers_ = false;  // inside runEncodeHeaders(): continueEncoding() is deferred
  bool encode_holdable_ = false;   // the head runEncodeHeaders() is passing may be held
  bool continue_encode_requested_ = false;
  bool ended_ = false;            // a local reply or reset ended the stream, or destroy()
  bool destroyed_ = false;        // onDestroy() has been called
};

}  // namespace strait::http
