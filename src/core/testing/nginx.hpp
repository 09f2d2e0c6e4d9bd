#pragma once

// nginx as a real HTTP peer for tests: runs in the foreground as one process (master_process off,
// so killing its PID stops everything), with its config, pid, logs and temp paths in a temp dir and
// nothing read from or written to /etc or /var.

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "testing/process.hpp"

namespace olympus::testing {

class Nginx {
  public:
    // `http_body` is the inside of the http {} block (server blocks); `ports` are the ports it
    // listens on on 127.0.0.1, waited for before the constructor returns. The body may refer to
    // files of `dir()` by the placeholder "$DIR".
    Nginx(std::string http_body, std::vector<std::uint16_t> ports) {
        replace_all(http_body, "$DIR", dir_.path().string());
        const std::string d = dir_.path().string();
        write_file(dir_.path() / "nginx.conf",
                   "daemon off;\n"
                   "master_process off;\n"
                   "worker_processes 1;\n"
                   "pid " +
                       d +
                       "/nginx.pid;\n"
                       "error_log " +
                       d +
                       "/error.log warn;\n"
                       "events { worker_connections 256; }\n"
                       "http {\n"
                       "    access_log off;\n"
                       "    default_type application/octet-stream;\n"
                       "    client_body_temp_path " +
                       d +
                       "/client_body;\n"
                       "    proxy_temp_path " +
                       d +
                       "/proxy;\n"
                       "    fastcgi_temp_path " +
                       d +
                       "/fastcgi;\n"
                       "    uwsgi_temp_path " +
                       d +
                       "/uwsgi;\n"
                       "    scgi_temp_path " +
                       d + "/scgi;\n" + http_body + "\n}\n");
        process_ = std::make_unique<ChildProcess>(
            std::vector<std::string>{"/usr/sbin/nginx", "-c", d + "/nginx.conf", "-p", d + "/", "-e",
                                     d + "/error.log"},
            d + "/stdout.log");

        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        for (const auto port : ports) {
            while (!port_accepts(port)) {
                if (process_->poll() || std::chrono::steady_clock::now() >= deadline) {
                    throw std::runtime_error("nginx did not start:\n" + read_file(dir_.path() / "error.log") +
                                             read_file(dir_.path() / "stdout.log"));
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        }
    }

    // The directory holding the config and logs; tests may put files to serve here.
    const TempDir& dir() const { return dir_; }
    std::string error_log() const { return read_file(dir_.path() / "error.log"); }

  private:
    static void replace_all(std::string& text, std::string_view from, std::string_view to) {
        for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
            text.replace(at, from.size(), to);
        }
    }

    TempDir dir_;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace olympus::testing
