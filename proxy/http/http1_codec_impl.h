#pragma once

// llhttp-backed implementations of the HTTP/1.1 server and client codecs declared in
// strait/http/http1_codec.h.

#include <llhttp.h>

#include <cstdint>
#include <string_view>

#include "proxy/http/http1_common.h"
#include "strait/http/http1_codec.h"

namespace strait::http::http1 {

// Collects header fields that llhttp hands over in pieces into a HeaderMap, lower-casing names
// and trimming values, and enforces the count and byte limits while the bytes arrive rather than
// after buffering them. It also catches obs-fold (a header line starting with SP/HT), which
// llhttp 8.1 accepts even in strict mode and delivers as a further value span.
class HeaderCollector {
 public:
  enum class Verdict : uint8_t { Ok, TooManyHeaders, HeadersTooLarge, ObsFold };

  HeaderCollector(uint32_t max_bytes, uint32_t max_headers)
      : max_bytes_(max_bytes), max_headers_(max_headers) {}

  void reset(HeaderMap* map) {
    map_ = map;
    bytes_ = 0;
    count_ = 0;
    field_open_ = false;
  }
  // Brackets one llhttp_execute() over [begin, end): value spans are checked against the bytes
  // before them, which may lie in an earlier dispatch.
  void beginInput(const char* begin) { input_begin_ = begin; }
  void endInput(const char* begin, const char* end);

  Verdict onField(const char* data, size_t len);
  Verdict onValue(const char* data, size_t len);
  // Lower-cased and classified once the name is complete.
  HeaderKind onFieldComplete();
  HeaderEntry& current() { return map_->entries().back(); }
  void dropCurrent() { map_->entries().pop_back(); }

  static uint16_t statusFor(Verdict v) { return v == Verdict::ObsFold ? 400 : 431; }
  static std::string_view reasonFor(Verdict v);

 private:
  bool startsObsFold(const char* data) const;

  HeaderMap* map_ = nullptr;
  uint32_t max_bytes_;
  uint32_t max_headers_;
  uint64_t bytes_ = 0;
  uint32_t count_ = 0;
  bool field_open_ = false;
  const char* input_begin_ = nullptr;
  char last_non_ows_ = '\n';  // last byte before the current input that is not SP/HT
};

// Where a codec's parser stands between two dispatch() calls.
enum class ParserState : uint8_t {
  Parsing,   // takes the next bytes
  Paused,    // a message completed: nothing more is parsed until resume()
  Upgraded,  // an upgrade completed: what follows is tunnel data, not HTTP
  Errored,   // an error was reported: nothing more is parsed, the connection closes
};

// What one run of llhttp over a dispatch's input came to.
struct ParserRun {
  DispatchResult result;
  // An llhttp error the codec has still to report (`result.consumed` bytes were parsed before
  // it), or HPE_OK.
  llhttp_errno_t error = HPE_OK;
};

// The dispatch both codecs share: in state Parsing, runs `parser` over [data, data + len) with
// `collector` bracketing the input, and moves `state` to Paused or Upgraded when llhttp stops
// there; in any other state parses nothing and says which state holds.
ParserRun runParser(llhttp_t& parser, HeaderCollector& collector, ParserState& state,
                    const char* data, size_t len);

// Server side: parses requests from a downstream client and encodes responses to it.
class ServerCodecImpl : public ServerCodec {
 public:
  ServerCodecImpl(ServerCallbacks& callbacks, const CodecLimits& limits);

  // ServerCodec
  DispatchResult dispatch(const char* data, size_t len) override;
  void resume() override;
  bool messageInProgress() const override { return message_in_progress_; }
  void encodeHeaders(const ResponseHeaders& headers, bool end_stream, bool close_connection,
                     buffer::Buffer& out) override;
  void encodeData(buffer::Buffer& data, bool end_stream, buffer::Buffer& out) override;
  void encode100Continue(buffer::Buffer& out) override;

  // True once the response encoded last must be followed by closing the connection: the client
  // did not ask for keep-alive, `close_connection` was set, the body is close-delimited (an
  // HTTP/1.0 client without content-length) or the request was malformed.
  // TODO(interface): proposed addition to ServerCodec.
  bool closeAfterResponse() const override { return close_after_response_; }

  // llhttp callbacks, reached through the static trampolines in the .cc file.
  int onMessageBegin();
  int onUrl(const char* data, size_t len);
  int onHeaderField(const char* data, size_t len);
  int onHeaderFieldComplete();
  int onHeaderValue(const char* data, size_t len);
  int onHeaderValueComplete();
  int onHeadersComplete();
  int onBody(const char* data, size_t len);
  int onMessageComplete();

 private:
  // Records the first error; dispatch() reports it once the parser has stopped.
  int fail(uint16_t status, std::string_view reason);
  DispatchResult reportError(llhttp_errno_t err, size_t consumed);

  ServerCallbacks& callbacks_;
  CodecLimits limits_;
  llhttp_t parser_;
  RequestHeaders headers_;
  HeaderMap trailers_;  // chunked trailers: parsed for validity and limits, then dropped
  MessageInfo info_;
  HeaderCollector collector_;
  HeaderKind current_kind_ = HeaderKind::Other;
  ParserState state_ = ParserState::Parsing;
  bool message_in_progress_ = false;
  bool in_trailers_ = false;
  bool has_host_ = false;
  bool seen_content_length_ = false;
  bool seen_transfer_encoding_ = false;
  uint64_t body_bytes_ = 0;
  uint16_t error_status_ = 0;
  std::string_view error_reason_;

  // The request the next response answers.
  bool request_head_ = false;
  bool request_http10_ = false;
  bool request_keep_alive_ = true;
  bool request_asked_keep_alive_ = false;  // HTTP/1.0 "Connection: keep-alive"
  BodyFraming response_framing_ = BodyFraming::Identity;
  bool close_after_response_ = false;
};

// Client side: encodes requests to an upstream and parses its responses.
class ClientCodecImpl : public ClientCodec {
 public:
  explicit ClientCodecImpl(ClientCallbacks& callbacks);

  // ClientCodec
  void encodeHeaders(const RequestHeaders& headers, const MessageInfo& info,
                     buffer::Buffer& out) override;
  void encodeData(buffer::Buffer& data, bool end_stream, buffer::Buffer& out) override;
  DispatchResult dispatch(const char* data, size_t len) override;
  bool onEof() override;
  void resume() override;

  // llhttp callbacks.
  int onMessageBegin();
  int onHeaderField(const char* data, size_t len);
  int onHeaderFieldComplete();
  int onHeaderValue(const char* data, size_t len);
  int onHeaderValueComplete();
  int onHeadersComplete();
  int onBody(const char* data, size_t len);
  int onMessageComplete();

  // Generous limits: an upstream is trusted more than a client, but not unboundedly.
  static constexpr uint32_t kMaxResponseHeaderBytes = 100 * 1024;
  static constexpr uint32_t kMaxResponseHeaders = 200;

 private:
  int fail(std::string_view reason);
  DispatchResult reportError(llhttp_errno_t err, size_t consumed);

  ClientCallbacks& callbacks_;
  llhttp_t parser_;
  ResponseHeaders headers_;
  HeaderMap trailers_;
  MessageInfo info_;
  HeaderCollector collector_;
  ParserState state_ = ParserState::Parsing;
  bool message_in_progress_ = false;
  bool in_trailers_ = false;
  bool interim_ = false;  // parsing a 1xx that is not reported
  bool request_head_ = false;
  bool completed_ = false;
  BodyFraming request_framing_ = BodyFraming::None;
  std::string_view error_reason_;
};

}  // namespace strait::http::http1
