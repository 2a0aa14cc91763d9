#include "proxy/admin/admin_server.h"

#include "proxy/network/connection_impl.h"
#include "strait/http/http1_codec.h"

namespace strait::admin {

// One admin connection: parse a request, answer it, keep alive or close.
class AdminServer::Session : public network::ConnectionCallbacks,
                             public http::http1::ServerCallbacks,
                             public event::DeferredDeletable {
 public:
  ~Session() override { network::releaseConnection(std::move(connection_)); }

  Session(AdminServer& server, network::ConnectionPtr connection)
      : server_(server), connection_(std::move(connection)) {
    http::http1::CodecLimits limits;
    limits.max_body_bytes = 64 * 1024;
    codec_ = http::http1::createServerCodec(*this, limits);
    connection_->setCallbacks(*this);
  }

  std::list<std::unique_ptr<Session>>::iterator self;

  void onData(const char* data, size_t len) override {
    while (len > 0 && !closed_) {
      auto result = codec_->dispatch(data, len);
      if (result.status == http::http1::DispatchResult::Status::Paused) {
        data += result.consumed;
        len -= result.consumed;
        codec_->resume();
        continue;
      }
      if (result.status != http::http1::DispatchResult::Status::Ok) {
        close();
      }
      return;
    }
  }
  void onEvent(network::ConnectionEvent) override { close(); }

  void onRequestHeaders(http::RequestHeaders& headers, const http::http1::MessageInfo&) override {
    request_ = &headers;
  }
  void onRequestBody(const char*, size_t) override {}
  void onRequestComplete() override {
    AdminResponse response = server_.handle(*request_);
    http::ResponseHeaders headers;
    headers.status = response.status;
    headers.headers.add("content-type", response.content_type);
    headers.headers.add("content-length", std::to_string(response.body.size()));
    headers.headers.add("cache-control", "no-cache");
    buffer::Buffer out;
    codec_->encodeHeaders(headers, response.body.empty(), false, out);
    if (!response.body.empty()) {
      buffer::Buffer body;
      body.add(response.body);
      codec_->encodeData(body, true, out);
    }
    connection_->write(out);
    if (codec_->closeAfterResponse()) {
      connection_->close(network::CloseType::FlushWrite);
      close();
    }
  }
  void onRequestError(uint16_t status, std::string_view reason) override {
    http::ResponseHeaders headers;
    headers.status = status;
    headers.headers.add("content-length", std::to_string(reason.size()));
    buffer::Buffer out;
    codec_->encodeHeaders(headers, false, true, out);
    buffer::Buffer body;
    body.add(reason);
    codec_->encodeData(body, true, out);
    connection_->write(out);
    connection_->close(network::CloseType::FlushWrite);
    close();
  }

 private:
  void close() {
    if (closed_) {
      return;
    }
    closed_ = true;
    if (connection_->state() == network::Connection::State::Open) {
      connection_->close(network::CloseType::NoFlush);
    }
    auto owned = std::move(*self);
    server_.sessions_.erase(self);
    server_.dispatcher_.deferredDelete(std::move(owned));
  }

  AdminServer& server_;
  network::ConnectionPtr connection_;
  std::unique_ptr<http::http1::ServerCodec> codec_;
  http::RequestHeaders* request_ = nullptr;
  bool closed_ = false;
};

AdminServer::AdminServer(event::DispatcherImpl& dispatcher) : dispatcher_(dispatcher) {
  addHandler("GET", "/", "this list", [this](const http::RequestHeaders&) {
    AdminResponse r;
    for (const auto& [key, entry] : handlers_) {
      r.body += key.first + " " + key.second + "  " + entry.help + "\n";
    }
    return r;
  });
}

AdminServer::~AdminServer() {
  listener_.reset();
  sessions_.clear();
}

void AdminServer::addHandler(const std::string& method, const std::string& path,
                             std::string help, AdminHandler handler) {
  handlers_[{method, path}] = Entry{std::move(help), std::move(handler)};
}

bool AdminServer::listen(const std::string& address, uint16_t port, std::string& error) {
  int fd = network::bindListenSocket(address, port, 128, port_, error);
  if (fd < 0) {
    return false;
  }
  address_ = address;
  listener_ = std::make_unique<network::ListenerImpl>(
      dispatcher_, fd, [this](network::ConnectionPtr connection) {
        sessions_.push_back(std::make_unique<Session>(*this, std::move(connection)));
        sessions_.back()->self = std::prev(sessions_.end());
      });
  if (!listener_->ok()) {
    error = listener_->error();
    return false;
  }
  return true;
}

AdminResponse AdminServer::handle(const http::RequestHeaders& request) {
  std::string path = request.path.substr(0, request.path.find('?'));
  std::string method = request.method == "HEAD" ? "GET" : request.method;
  auto it = handlers_.find({method, path});
  if (it != handlers_.end()) {
    return it->second.handler(request);
  }
  for (const auto& [key, entry] : handlers_) {
    if (key.second == path) {
      return AdminResponse{405, "text/plain; charset=utf-8", "method not allowed\n"};
    }
  }
  return AdminResponse{404, "text/plain; charset=utf-8", "not found: " + path + "\n"};
}

}  // namespace strait::admin
