#pragma once

// Runs one stream's filters (strait/http/filter.h): requests forward through the list, responses
// backward, with Continue/StopIteration, continueDecoding(), local replies, resets and held
// response data. The stream that owns the chain implements FilterChainOwner: what happens past
// the last filter (routing on the way in, the codec on the way out) and the stream's context.
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

  virtual const RequestHeaders& filterRequestHeaders() const = 0;
  virtual const config::Route* filterRoute() const = 0;
  virtual std::string_view filterClusterName() const = 0;
  virtual const std::string& filterPrincipal() const = 0;
  virtual event::Dispatcher& filterDispatcher() = 0;
  virtual RandomGenerator& filterRandom() = 0;
  virtual const TimeSource& filterTimeSource() const = 0;
  virtual stats::Shard& filterStatsShard() = 0;
};

class FilterChain {
 public:
  FilterChain(FilterChainOwner& owner, const std::vector<FilterFactoryPtr>& factories);
  ~FilterChain();

  // Runs the request head through the filters; ends in owner.onDecodeFiltersDone() unless a
  // filter stops (later continueDecoding()) or ends the stream.
  void decodeHeaders(RequestHeaders& headers, bool end_stream);
  // Every filter, last to first, may edit the response head.
  void encodeHeaders(ResponseHeaders& headers, bool end_stream);
  // Response body through the filters, last to first; ends in owner.onEncodedData().
  void encodeData(buffer::Buffer& data, bool end_stream);
  // The stream is over: onDestroy() to every filter (once), and no callback acts any more.
  void destroy();

  bool empty() const { return slots_.empty(); }
  // A filter holds the request (StopIteration not yet continued).
  bool decodeStopped() const { return decode_stopped_; }

 private:
  class Slot;
  void runDecode(size_t from);
  void runEncodeData(size_t from, buffer::Buffer& data, bool end_stream);
  void continueDecodingFrom(const Slot& slot);

  FilterChainOwner& owner_;
  std::vector<std::unique_ptr<Slot>> slots_;
  RequestHeaders* request_ = nullptr;
  bool request_end_stream_ = false;
  size_t decode_next_ = 0;        // the filter decodeHeaders() runs next
  bool decode_stopped_ = false;
  bool decoding_ = false;         // inside runDecode(): continueDecoding() is deferred
  bool continue_requested_ = false;
  bool decode_done_ = false;
  bool ended_ = false;            // a local reply or reset ended the stream, or destroy()
  bool destroyed_ = false;        // onDestroy() has been called
};

}  // namespace strait::http
