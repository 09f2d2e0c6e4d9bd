#pragma once

// Test support for the server's tests: a server on 127.0.0.1 port 0 with its own IoPool, and a
// raw TCP client that sends exact bytes and parses responses by hand, with a timeout on every
// read so that a broken server fails a test instead of hanging it.

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>

#include "http/router.hpp"
#include "http/server.hpp"

namespace olympus::http::testing {

// A server with its own event loops, serving `router` on a free port of 127.0.0.1.
class TestServer {
  public:
    TestServer(ServerOptions options, std::function<void(Router&)> routes, unsigned threads = 2)
        : pool_(threads) {
        routes(router_);
        options.address = "127.0.0.1";
        options.port = 0;
        server_ = std::make_unique<Server>(pool_, std::move(options), router_);
        server_->start();
        pool_.run();
    }
    ~TestServer() {
        server_.reset();
        pool_.stop();
    }

    Server& server() { return *server_; }
    std::uint16_t port() const { return server_->port(); }

  private:
    IoPool pool_;
    Router router_;
    std::unique_ptr<Server> server_;
};

struct RawResponse {
    int status = 0;
    std::string status_line;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;

    bool has(const std::string& name) const { return headers.count(name) != 0; }
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

// Returns -1 when the connection is refused.
inline int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

class RawClient {
  public:
    explicit RawClient(std::uint16_t port) : fd_(connect_to(port)) {
        if (fd_ < 0) throw std::runtime_error("connect failed");
    }
    ~RawClient() {
        if (fd_ >= 0) ::close(fd_);
    }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    // False when the server has closed or reset the connection.
    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // One response, or nullopt when the connection closes or `timeout` passes first. A response to
    // HEAD has a Content-Length but no body: pass head = true.
    std::optional<RawResponse> read_response(bool head = false,
                                             std::chrono::milliseconds timeout = std::chrono::seconds{5}) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        std::size_t end;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
            if (!fill(until)) return std::nullopt;
        }
        RawResponse r;
        std::string_view head_text(buffer_.data(), end + 2);
        auto line_end = head_text.find("\r\n");
        r.status_line = std::string(head_text.substr(0, line_end));
        if (r.status_line.size() < 12) return std::nullopt;
        r.status = std::stoi(r.status_line.substr(9, 3));
        head_text.remove_prefix(line_end + 2);
        while (!head_text.empty()) {
            auto eol = head_text.find("\r\n");
            std::string_view line = head_text.substr(0, eol);
            auto colon = line.find(':');
            std::string name(line.substr(0, colon));
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            r.headers[name] = std::string(value);
            head_text.remove_prefix(eol + 2);
        }
        buffer_.erase(0, end + 4);
        std::size_t length = 0;
        if (!head && r.has("content-length")) length = std::stoul(r.header("content-length"));
        while (buffer_.size() < length) {
            if (!fill(until)) return std::nullopt;
        }
        r.body = buffer_.substr(0, length);
        buffer_.erase(0, length);
        return r;
    }

    // Exactly `n` bytes (e.g. an interim "100 Continue" line), or what arrived before the timeout.
    std::string read_bytes(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds{5}) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (buffer_.size() < n && fill(until)) {
        }
        std::string out = buffer_.substr(0, n);
        buffer_.erase(0, out.size());
        return out;
    }

    // True when the server closes (or resets) the connection within `timeout`; bytes that arrive
    // meanwhile are kept for read_response.
    bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds{5}) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            int r = poll_once(until);
            if (r == 0) return false;
            char chunk[4096];
            ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) return true;
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    const std::string& pending() const { return buffer_; }
    int fd() const { return fd_; }

  private:
    // 1: readable, 0: timed out.
    int poll_once(std::chrono::steady_clock::time_point until) {
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return 0;
            pollfd p{fd_, POLLIN, 0};
            int r = ::poll(&p, 1, static_cast<int>(left.count()));
            if (r > 0) return 1;
            if (r < 0 && errno != EINTR) return 1;  // let recv report the error
        }
    }

    bool fill(std::chrono::steady_clock::time_point until) {
        if (poll_once(until) == 0) return false;
        char chunk[16384];
        ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    int fd_;
    std::string buffer_;
};

inline std::string get_request(std::string_view target, std::string_view extra_headers = {}) {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n" + std::string(extra_headers) +
           "\r\n";
}

}  // namespace olympus::http::testing
