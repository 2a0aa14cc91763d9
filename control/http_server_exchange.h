#pragma once

// The part of an Exchange that HTTP/1.1 and HTTP/2 share: the request, the handler's callbacks,
// and the rule that a body piece, the end of the body or the peer's departure is held until the
// handler has set its callbacks, then delivered once.

#include <string>
#include <string_view>

#include "control/http_server.h"

namespace strait::cp::http {

class ExchangeBase : public Exchange {
 public:
  explicit ExchangeBase(HttpRequest request) : request_(std::move(request)) {}

  // Exchange
  const HttpRequest& request() const override { return request_; }
  void setCallbacks(Callbacks callbacks) override;
  void respond(int status, std::string_view content_type, std::string_view body) override;
  bool closed() const override { return closed_; }

  // Called by the session that owns the exchange.
  void deliverData(std::string_view data);
  void deliverEnd();
  // The session is done with the exchange: the stream or connection is gone, or the request was
  // read and the response sent. closed() turns true, on_close runs once if the response was not
  // finished, and the callbacks are released (a handler's lambda that holds its ExchangePtr
  // would otherwise keep the exchange alive for ever).
  void deliverClose();
  bool requestComplete() const { return request_complete_; }
  bool responseFinished() const { return finished_; }

 protected:
  // The response is finished, whatever the protocol does next to send it.
  void markFinished() { finished_ = true; }
  bool isClosed() const { return closed_; }
  HttpRequest& mutableRequest() { return request_; }

 private:
  HttpRequest request_;
  Callbacks callbacks_;
  bool callbacks_set_ = false;
  // Held until setCallbacks().
  std::string early_body_;
  bool request_complete_ = false;
  bool finished_ = false;
  bool closed_ = false;
  bool close_delivered_ = false;
};

}  // namespace strait::cp::http
