#include "control/http_server_exchange.h"

#include <utility>

namespace strait::cp::http {

// Callbacks run from a copy: one may end the exchange, and ending it releases callbacks_.

void ExchangeBase::setCallbacks(Callbacks callbacks) {
  if (closed_ && finished_) {
    return;
  }
  callbacks_ = std::move(callbacks);
  callbacks_set_ = true;
  std::string body = std::move(early_body_);
  early_body_.clear();
  if (!body.empty() && callbacks_.on_data) {
    auto on_data = callbacks_.on_data;
    on_data(body);
  }
  if (request_complete_ && callbacks_.on_end) {
    auto on_end = callbacks_.on_end;
    on_end();
  }
  if (closed_) {
    deliverClose();
  }
}

void ExchangeBase::respond(int status, std::string_view content_type, std::string_view body) {
  start(status, {{"content-type", std::string(content_type)},
                 {"content-length", std::to_string(body.size())}});
  write(body);
  finish();
}

void ExchangeBase::deliverData(std::string_view data) {
  if (closed_ || data.empty()) {
    return;
  }
  if (!callbacks_set_) {
    early_body_.append(data);
    return;
  }
  if (callbacks_.on_data) {
    auto on_data = callbacks_.on_data;
    on_data(data);
  }
}

void ExchangeBase::deliverEnd() {
  if (closed_ || request_complete_) {
    return;
  }
  request_complete_ = true;
  if (callbacks_set_ && callbacks_.on_end) {
    auto on_end = callbacks_.on_end;
    on_end();
  }
}

void ExchangeBase::deliverClose() {
  closed_ = true;
  if (!callbacks_set_) {
    // setCallbacks() comes back here if the handler sets them later.
    return;
  }
  Callbacks callbacks = std::move(callbacks_);
  callbacks_ = {};
  if (!finished_ && !close_delivered_ && callbacks.on_close) {
    close_delivered_ = true;
    callbacks.on_close();
  }
}

}  // namespace strait::cp::http
