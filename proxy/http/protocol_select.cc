#include "proxy/http/protocol_select.h"

namespace strait::http {

PrefaceMatch matchHttp2Preface(std::string_view data) {
  size_t n = data.size() < kHttp2Preface.size() ? data.size() : kHttp2Preface.size();
  if (data.substr(0, n) != kHttp2Preface.substr(0, n)) {
    return PrefaceMatch::Http1;
  }
  return n == kHttp2Preface.size() ? PrefaceMatch::Http2 : PrefaceMatch::NeedMore;
}

DownstreamProtocol protocolFromAlpn(std::string_view alpn) {
  return alpn == "h2" ? DownstreamProtocol::Http2 : DownstreamProtocol::Http1;
}

}  // namespace strait::http
