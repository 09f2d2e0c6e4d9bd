#pragma once

// A real NATS server with JetStream for tests: nats-server (Debian's nats-server) on 127.0.0.1 with
// a free client port, a free monitoring port and its store under a temp dir, killed by PID when the
// fixture ends (or the test binary dies: see ChildProcess). Ready once GET /healthz on the
// monitoring port answers 200, which nats-server does only when JetStream is up.
//
//   testing::NatsServer nats;
//   events::JetStreamBus bus({.url = nats.url(), ...});
//
// Header-only, like the rest of testing/, so that nothing of it reaches the production library.
// A missing nats-server is a test failure, not a skip: scripts/bootstrap installs it.

#include <arpa/inet.h>
#include <chrono>
#include <cstdint>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "testing/process.hpp"

namespace olympus::testing {

class NatsServer {
  public:
    static constexpr const char* kServer = "/usr/sbin/nats-server";

    NatsServer() : port_(free_port()), monitor_port_(free_port()) { start(); }
    ~NatsServer() { kill(); }
    NatsServer(const NatsServer&) = delete;
    NatsServer& operator=(const NatsServer&) = delete;

    std::uint16_t port() const { return port_; }
    std::uint16_t monitor_port() const { return monitor_port_; }
    std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
    std::filesystem::path store_dir() const { return dir_.path() / "jetstream"; }

    // Starts on the same ports and store; returns once /healthz answers 200.
    void start() {
        if (process_) return;
        struct stat info {};
        if (::stat(kServer, &info) != 0) {
            throw std::runtime_error(std::string(kServer) +
                                     " not found: install nats-server (scripts/bootstrap)");
        }
        process_ = std::make_unique<ChildProcess>(
            std::vector<std::string>{kServer, "-a", "127.0.0.1", "-p", std::to_string(port_), "-m",
                                     std::to_string(monitor_port_), "-js", "-sd", store_dir().string()},
            dir_.file("nats.log"));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!healthy()) {
            if (process_->poll()) {
                process_.reset();
                throw std::runtime_error("nats-server exited at start-up:\n" +
                                         read_file(dir_.file("nats.log")));
            }
            if (std::chrono::steady_clock::now() > deadline) {
                throw std::runtime_error("nats-server not ready within 20 s:\n" +
                                         read_file(dir_.file("nats.log")));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    // A clean shutdown, as an operator restarting the server would do.
    void stop() { signal_and_wait(SIGTERM); }
    // A crash: the server gets no chance to flush or say goodbye.
    void kill() { signal_and_wait(SIGKILL); }

    std::string log() const { return read_file(dir_.file("nats.log")); }

    // The body of GET `path` on the monitoring port ("/jsz?streams=true&consumers=true&config=true"
    // is the server's own view of streams and consumers), nullopt unless it answers 200. A plain
    // socket: the fixture should not depend on the HTTP client it may test.
    std::optional<std::string> monitor(std::string_view path) const {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return std::nullopt;
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(monitor_port_);
        // A server that accepts but never answers must not hang the fixture.
        timeval timeout{2, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        std::string response;
        if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
            const std::string request = "GET " + std::string(path) + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
            if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(request.size())) {
                char buffer[4096];
                ssize_t n = 0;
                while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0)
                    response.append(buffer, static_cast<std::size_t>(n));
            }
        }
        ::close(fd);
        const auto body = response.find("\r\n\r\n");
        if (!(response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200")) ||
            body == std::string::npos) {
            return std::nullopt;
        }
        return response.substr(body + 4);
    }

  private:
    bool healthy() const { return monitor("/healthz").has_value(); }

    void signal_and_wait(int signal) {
        if (!process_) return;
        ::kill(process_->pid(), signal);
        if (!process_->wait(std::chrono::seconds(10))) {
            ::kill(process_->pid(), SIGKILL);
            process_->wait(std::chrono::seconds(10));
        }
        process_.reset();
    }

    TempDir dir_;
    std::uint16_t port_;
    std::uint16_t monitor_port_;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace olympus::testing
