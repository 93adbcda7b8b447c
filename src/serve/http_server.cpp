// The HTTP server: an acceptor and one Session per connection, each on its own strand, with
// Beast's parser enforcing the header and body limits and tcp_stream's deadlines the timeouts.
#include "serve/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <mutex>
#include <thread>

#include "vit/error.h"

namespace vit::serve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (key == name) return std::string_view(value);
    }
    return std::nullopt;
}

std::string_view HttpRequest::path() const {
    const std::string_view t = target;
    return t.substr(0, t.find('?'));
}

namespace {

class Session;

// After an error answer that closes the connection, the rest of what the client sends is read
// and dropped for up to this long (or this many bytes), so that closing with unread bytes does
// not reset the connection before the client has read the answer.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr size_t kLingerBytes = size_t{4} << 20;

HttpResponse error_response(int status, const std::string& message) {
    HttpResponse r;
    r.status = status;
    r.body = "{\"error\":\"" + message + "\"}";  // messages made here hold no quotes or backslashes
    return r;
}

std::chrono::steady_clock::duration as_duration(double seconds) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

struct HttpServer::State {
    asio::io_context ioc;
    asio::strand<asio::io_context::executor_type> control{asio::make_strand(ioc)};
    tcp::acceptor acceptor{control};
    asio::signal_set signals{control, SIGINT, SIGTERM};
    HttpLimits limits;
    HttpHandler handler;
    int io_threads = 2;
    std::atomic<int64_t> connections{0};
    std::atomic<bool> draining{false};
    std::function<void(int)> on_signal;
    std::mutex sessions_mutex;
    std::vector<std::weak_ptr<Session>> sessions;

    void accept(const std::shared_ptr<State>& self);
    void begin_drain();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(tcp::socket socket, std::shared_ptr<HttpServer::State> server)
        : stream_(std::move(socket)), server_(std::move(server)),
          buffer_(static_cast<size_t>(server_->limits.max_header_bytes) + 65536) {
        server_->connections++;
        // Beast reads as much as the buffer's free capacity (at least 512 bytes): with 64 KiB a
        // large body takes a tenth of the system calls it would at 512
        buffer_.reserve(65536);
    }
    ~Session() { server_->connections--; }

    void start(bool refused) {
        asio::dispatch(stream_.get_executor(), [self = shared_from_this(), refused] {
            if (refused) {
                self->answer(error_response(503, "too many connections; try again later"), true);
            } else {
                self->read_header();
            }
        });
    }

    // Closes the connection when it waits for a request that has not begun (shutdown).
    void drain() {
        asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
            if (self->state_ == State::WaitingForRequest && !self->parser_->got_some()) self->stream_.cancel();
        });
    }

  private:
    enum class State { WaitingForRequest, Handling, Writing };

    void read_header() {
        state_ = State::WaitingForRequest;
        parser_.emplace();
        parser_->header_limit(static_cast<uint32_t>(server_->limits.max_header_bytes));
        parser_->body_limit(static_cast<uint64_t>(server_->limits.max_body_bytes));
        stream_.expires_after(as_duration(server_->limits.timeout_s));
        http::async_read_header(stream_, buffer_, *parser_,
                                beast::bind_front_handler(&Session::on_header, shared_from_this()));
    }

    void on_header(beast::error_code ec, size_t) {
        if (ec) return read_failed(ec);
        const auto& msg = parser_->get();
        const auto fields = std::distance(msg.begin(), msg.end());
        if (fields > server_->limits.max_header_fields) {
            return answer(error_response(431, fmt::format("the request has {} header fields; the limit is {}", fields,
                                                          server_->limits.max_header_fields)),
                          true);
        }
        request_ = HttpRequest{};
        request_.method = std::string(msg.method_string());
        request_.target = std::string(msg.target());
        for (const auto& field : msg) {
            std::string name(field.name_string());
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            request_.headers.emplace_back(std::move(name), std::string(field.value()));
        }
        keep_alive_ = msg.keep_alive();
        if (server_->handler.screen) {
            std::optional<HttpResponse> early;
            try {
                early = server_->handler.screen(request_);
            } catch (const std::exception&) {
                early = error_response(500, "internal error");
            }
            if (early) return answer(std::move(*early), true);
        }
        if (beast::iequals(msg[http::field::expect], "100-continue")) {
            continue_.emplace(http::status::continue_, msg.version());
            return http::async_write(stream_, *continue_, [self = shared_from_this()](beast::error_code e, size_t) {
                if (e) return self->close();
                self->read_body();
            });
        }
        read_body();
    }

    void read_body() {
        // the deadline set before the header still runs: the whole request within timeout_s
        http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_body, shared_from_this()));
    }

    void on_body(beast::error_code ec, size_t) {
        if (ec) return read_failed(ec);
        request_.body = std::move(parser_->get().body());
        state_ = State::Handling;
        stream_.expires_never();  // the handler's own deadline applies while it computes
        try {
            server_->handler.handle(std::move(request_), responder());
        } catch (const std::exception&) {
            answer(error_response(500, "internal error"), true);
        }
    }

    Respond responder() {
        auto work = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(
            server_->ioc.get_executor());
        return [self = shared_from_this(), work](HttpResponse response) {
            asio::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
                self->answer(std::move(response), false);
            });
            work->reset();
        };
    }

    void read_failed(beast::error_code ec) {
        if (ec == http::error::body_limit) {
            return answer(error_response(413, fmt::format("the request body is larger than the limit of {} bytes",
                                                          server_->limits.max_body_bytes)),
                          true);
        }
        if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
            return answer(error_response(431, fmt::format("the request header is larger than the limit of {} bytes",
                                                          server_->limits.max_header_bytes)),
                          true);
        }
        // a timeout has closed the socket already; the others are the client's end of stream
        const bool http_syntax = &ec.category() == &http::make_error_code(http::error::bad_method).category();
        if (!http_syntax || ec == http::error::end_of_stream || ec == http::error::partial_message) {
            return close();
        }
        answer(error_response(400, "malformed HTTP request: " + ec.message()), true);
    }

    void answer(HttpResponse r, bool close_after) {
        state_ = State::Writing;
        const bool keep = !close_after && keep_alive_ && !server_->draining;
        response_.emplace(static_cast<http::status>(r.status), 11);
        response_->set(http::field::server, "vit");
        response_->set(http::field::content_type, r.content_type);
        for (const auto& [name, value] : r.headers) response_->set(name, value);
        response_->body() = std::move(r.body);
        response_->keep_alive(keep);
        response_->prepare_payload();
        stream_.expires_after(as_duration(server_->limits.timeout_s));
        http::async_write(stream_, *response_, [self = shared_from_this(), keep](beast::error_code ec, size_t) {
            if (ec) return self->close();
            if (keep) return self->read_header();
            self->linger();
        });
    }

    void linger() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.expires_after(kLingerTime);
        discard();
    }

    void discard() {
        stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, size_t n) {
            self->discarded_ += n;
            if (ec || self->discarded_ > kLingerBytes) return self->close();
            self->discard();
        });
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().close(ignored);
    }

    beast::tcp_stream stream_;
    std::shared_ptr<HttpServer::State> server_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::optional<http::response<http::empty_body>> continue_;
    std::optional<http::response<http::string_body>> response_;
    HttpRequest request_;
    bool keep_alive_ = false;
    State state_ = State::WaitingForRequest;
    std::array<char, 16384> scratch_{};
    size_t discarded_ = 0;
};

}  // namespace

void HttpServer::State::accept(const std::shared_ptr<State>& self) {
    acceptor.async_accept(asio::make_strand(ioc), [self](beast::error_code ec, tcp::socket socket) {
        if (!self->acceptor.is_open()) return;
        if (ec) {  // out of file descriptors, say: try again shortly rather than spin
            auto timer = std::make_shared<asio::steady_timer>(self->control, std::chrono::milliseconds(50));
            timer->async_wait([self, timer](beast::error_code) { self->accept(self); });
            return;
        }
        const bool refused = self->connections >= self->limits.max_connections || self->draining;
        auto session = std::make_shared<Session>(std::move(socket), self);
        {
            std::lock_guard lock(self->sessions_mutex);
            std::erase_if(self->sessions, [](const std::weak_ptr<Session>& s) { return s.expired(); });
            self->sessions.push_back(session);
        }
        session->start(refused);
        self->accept(self);
    });
}

void HttpServer::State::begin_drain() {
    if (draining.exchange(true)) return;
    asio::post(control, [this] {
        beast::error_code ignored;
        signals.cancel(ignored);
        acceptor.close(ignored);
    });
    std::lock_guard lock(sessions_mutex);
    for (const auto& weak : sessions) {
        if (auto s = weak.lock()) s->drain();
    }
}

HttpServer::HttpServer(const std::string& host, int port, const HttpLimits& limits, HttpHandler handler,
                       int io_threads)
    : state_(std::make_shared<State>()) {
    state_->limits = limits;
    state_->handler = std::move(handler);
    state_->io_threads = std::max(1, io_threads);
    beast::error_code ec;
    const asio::ip::address address = asio::ip::make_address(host, ec);
    if (ec) fail("--host '{}' is not an IP address (e.g. 127.0.0.1 or ::1)", host);
    const tcp::endpoint endpoint(address, static_cast<uint16_t>(port));
    tcp::acceptor& a = state_->acceptor;
    a.open(endpoint.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(endpoint, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) fail("cannot listen on {}:{}: {}", host, port, ec.message());
}

HttpServer::~HttpServer() = default;

int HttpServer::port() const { return state_->acceptor.local_endpoint().port(); }

void HttpServer::run(const std::function<void(int)>& on_signal) {
    State& s = *state_;
    s.on_signal = on_signal;
    s.signals.async_wait([&s](beast::error_code ec, int signal) {
        if (ec) return;
        if (s.on_signal) s.on_signal(signal);
        s.begin_drain();
    });
    asio::dispatch(s.control, [st = state_] { st->accept(st); });
    std::vector<std::thread> threads;
    for (int i = 1; i < s.io_threads; i++) threads.emplace_back([&s] { s.ioc.run(); });
    s.ioc.run();
    for (std::thread& t : threads) t.join();
}

void HttpServer::stop() { state_->begin_drain(); }

}  // namespace vit::serve
