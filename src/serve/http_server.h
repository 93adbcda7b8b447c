// An HTTP/1.1 server for untrusted clients (Boost.Beast over Asio): every limit a client could
// abuse is bounded before memory or time is spent on it, and answered with its status code.
//
//   body size        Content-Length past the limit: 413 before a byte of the body is read;
//                    chunked bodies are counted as they arrive (413 at the limit)
//   header           request line and header lines together (so also any one line): 431
//   header fields    counted after the header: 431
//   time             a request must arrive whole within `timeout_s` of its first byte (a client
//                    sending one byte a second is answered 408 and cut off); an idle keep-alive
//                    connection is closed after the same time; a response must be written
//                    within it too
//   connections      past `max_connections`, a new connection gets 503 and is closed
//
// Requests are handled one at a time per connection (keep-alive, no pipelining). The handler is
// called on an I/O thread and answers through `respond`, from any thread and possibly later (the
// batcher answers from its compute thread).
//
// Example:
//   vit::serve::HttpServer server("127.0.0.1", 8080, {}, handler);
//   server.run();  // until SIGINT or SIGTERM; then in-flight requests are answered first
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vit::serve {

struct HttpLimits {
    int64_t max_body_bytes = int64_t{64} << 20;
    int64_t max_header_bytes = int64_t{16} << 10;
    int64_t max_header_fields = 64;
    double timeout_s = 30.0;
    int64_t max_connections = 256;
};

struct HttpRequest {
    std::string method;   // "GET", "POST", ... as sent
    std::string target;   // path and query as sent: "/v2/models/m/infer?x=1"
    std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
    std::string body;
    // The value of the first header of this (lower-case) name, or nothing.
    std::optional<std::string_view> header(std::string_view name) const;
    std::string_view path() const;  // the target up to '?'
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

using Respond = std::function<void(HttpResponse)>;

struct HttpHandler {
    // Sees the header before the body is read: an answer here (401, 404, ...) is sent without
    // reading the body, and the connection is then closed.
    std::function<std::optional<HttpResponse>(const HttpRequest& header)> screen;
    // Answers a whole request by calling `respond` exactly once.
    std::function<void(HttpRequest request, Respond respond)> handle;
};

class HttpServer {
  public:
    // Binds and listens (port 0: a free port, see port()); throws vit::Error naming the address
    // when it cannot.
    HttpServer(const std::string& host, int port, const HttpLimits& limits, HttpHandler handler, int io_threads = 2);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    int port() const;
    // Serves until SIGINT, SIGTERM or stop(). Then it stops accepting, closes idle connections,
    // answers the requests it has read (with Connection: close) and returns once they are
    // written. `on_signal` is called (on an I/O thread) when a signal starts the shutdown.
    void run(const std::function<void(int signal)>& on_signal = {});
    // Starts the same shutdown from any thread.
    void stop();

    struct State;  // the acceptor, the sessions and the I/O threads (http_server.cpp)

  private:
    std::shared_ptr<State> state_;
};

}  // namespace vit::serve
