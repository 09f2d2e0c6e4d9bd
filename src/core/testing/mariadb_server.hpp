#pragma once

// A real MariaDB server for tests: mariadbd (Debian's mariadb-server) on 127.0.0.1 with a free port
// and a data directory of its own under a temp dir, started once per test binary by shared() and
// killed by PID when the binary exits (or dies: see ChildProcess). Each suite asks for a fresh
// database and gets a URL for a test user with a password:
//
//   const std::string url = testing::MariaDbServer::shared().create_database("outbox_relay");
//   auto db = sql::open(url);
//
// Header-only, like the rest of testing/, so that nothing of it reaches the production library.
// mariadb-install-db takes seconds (it loads the system tables), so an initialised data directory
// is kept as a template under the temp dir, keyed by the mariadbd build, and copied for each
// server. A missing mariadbd is a test failure, not a skip: scripts/bootstrap installs it.
//
// Call shared() from the main test thread: the server is tied to the thread that started it
// (PR_SET_PDEATHSIG), which for GoogleTest is the main thread.

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "testing/process.hpp"

namespace olympus::testing {

class MariaDbServer {
  public:
    // Reserved URL characters in the password check that URLs are percent-decoded.
    static constexpr std::string_view kUser = "olympus_test";
    static constexpr std::string_view kPassword = "pa@ss:w/rd?#%1";

    static constexpr const char* kServer = "/usr/sbin/mariadbd";
    static constexpr const char* kInstallDb = "/usr/bin/mariadb-install-db";
    static constexpr const char* kClient = "/usr/bin/mariadb";

    static MariaDbServer& shared() {
        static MariaDbServer server;
        return server;
    }

    MariaDbServer() : port_(free_port()) {
        std::filesystem::copy(template_dir(), data_dir(), std::filesystem::copy_options::recursive);
        start();
        admin("CREATE USER '" + std::string(kUser) + "'@'%' IDENTIFIED BY '" + std::string(kPassword) +
              "'; CREATE USER '" + std::string(kUser) + "'@'localhost' IDENTIFIED BY '" +
              std::string(kPassword) + "';");
    }

    // The data directory is thrown away: no need for a clean shutdown.
    ~MariaDbServer() { kill(SIGKILL); }

    MariaDbServer(const MariaDbServer&) = delete;
    MariaDbServer& operator=(const MariaDbServer&) = delete;

    std::uint16_t port() const { return port_; }
    std::string socket_path() const { return dir_.file("mariadb.sock"); }
    std::filesystem::path data_dir() const { return dir_.path() / "data"; }

    // An empty database named after `name` (characters other than [A-Za-z0-9_] become '_'), dropped
    // first when it exists, that the test user owns; returns its URL (TCP, with user and password).
    std::string create_database(std::string_view name) {
        const std::string database = database_name(name);
        admin("DROP DATABASE IF EXISTS `" + database + "`; CREATE DATABASE `" + database +
              "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; GRANT ALL ON `" + database + "`.* TO '" +
              std::string(kUser) + "'@'%', '" + std::string(kUser) + "'@'localhost';");
        return url(database);
    }

    std::string url(std::string_view database) const {
        return "mariadb://" + encode(kUser) + ":" + encode(kPassword) +
               "@127.0.0.1:" + std::to_string(port_) + "/" + std::string(database);
    }
    std::string socket_url(std::string_view database) const {
        return "mariadb://" + encode(kUser) + ":" + encode(kPassword) + "@localhost/" +
               std::string(database) + "?socket=" + encode(socket_path());
    }

    // Runs SQL as root through the mariadb client over the socket (fixtures only).
    void admin(const std::string& sql) const {
        run_command(
            {kClient, "--no-defaults", "--socket=" + socket_path(), "--user=root", "--batch", "-e", sql},
            dir_.path());
    }

    // Clean shutdown (SIGTERM), as an operator restarting the server would do.
    void stop() {
        if (!process_) return;
        ::kill(process_->pid(), SIGTERM);
        if (!process_->wait(std::chrono::seconds(60))) throw std::runtime_error("mariadbd did not stop");
        process_.reset();
    }

    // Starts on the same port and data directory; returns once it accepts connections.
    void start() {
        if (process_) return;
        std::vector<std::string> argv = {
            kServer, "--no-defaults", "--datadir=" + data_dir().string(), "--socket=" + socket_path(),
            "--pid-file=" + dir_.file("mariadb.pid"), "--log-error=" + dir_.file("error.log"),
            "--bind-address=127.0.0.1", "--port=" + std::to_string(port_), "--skip-name-resolve",
            "--max-connections=400",
            // Small and fast: a throwaway server, not a benchmark.
            "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M",
            "--innodb-flush-log-at-trx-commit=2"};
        if (::geteuid() == 0) argv.insert(argv.begin() + 2, "--user=root");
        process_ = std::make_unique<ChildProcess>(std::move(argv), dir_.file("stdout.log"));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!port_accepts(port_)) {
            if (process_->poll()) {
                process_.reset();
                throw std::runtime_error("mariadbd exited at start-up:\n" +
                                         read_file(dir_.file("error.log")));
            }
            if (std::chrono::steady_clock::now() > deadline) {
                throw std::runtime_error("mariadbd not ready within 60 s:\n" +
                                         read_file(dir_.file("error.log")));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

  private:
    static std::string encode(std::string_view text) {
        return boost::urls::encode(text, boost::urls::unreserved_chars);
    }

    static std::string database_name(std::string_view name) {
        std::string database;
        for (char c : name) {
            const bool ok =
                (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
            database += ok ? c : '_';
        }
        if (database.empty()) throw std::invalid_argument("MariaDbServer: empty database name");
        // MariaDB names are at most 64 characters; keep long test names distinct.
        if (database.size() > 64) {
            database = database.substr(0, 47) + "_" +
                       std::to_string(std::hash<std::string>{}(database) % 1'000'000'000'000ull);
        }
        return database;
    }

    // An initialised data directory, made once per mariadbd build and shared by every server (copied).
    static std::filesystem::path template_dir() {
        struct stat server {};
        if (::stat(kServer, &server) != 0) {
            throw std::runtime_error(std::string(kServer) +
                                     " not found: install the MariaDB server (scripts/bootstrap)");
        }
        const auto base = std::filesystem::temp_directory_path();
        const auto dir = base / ("olympus-mariadb-template-" + std::to_string(server.st_size) + "-" +
                                 std::to_string(server.st_mtime));
        if (std::filesystem::exists(dir)) return dir;
        // Built aside and renamed into place, so that concurrent test binaries never see half of it.
        remove_abandoned_staging(base, dir.filename().string() + ".staging-");
        const auto staging = base / (dir.filename().string() + ".staging-" + std::to_string(::getpid()));
        std::filesystem::remove_all(staging);
        std::filesystem::create_directories(staging);
        std::vector<std::string> argv = {kInstallDb,
                                         "--no-defaults",
                                         "--datadir=" + staging.string(),
                                         "--auth-root-authentication-method=normal",
                                         "--skip-test-db",
                                         "--innodb-log-file-size=8M",
                                         "--innodb-buffer-pool-size=32M"};
        if (::geteuid() == 0) argv.insert(argv.begin() + 2, "--user=root");
        const TempDir scratch;
        run_command(std::move(argv), scratch.path(), std::chrono::seconds(120));
        std::error_code error;
        std::filesystem::rename(staging, dir, error);
        if (error) std::filesystem::remove_all(staging);  // another binary got there first
        return dir;
    }

    // Staging directories of test binaries that died while installing.
    static void remove_abandoned_staging(const std::filesystem::path& base, const std::string& prefix) {
        std::error_code error;
        for (const auto& entry : std::filesystem::directory_iterator(base, error)) {
            const std::string name = entry.path().filename().string();
            if (!name.starts_with(prefix)) continue;
            const pid_t owner = static_cast<pid_t>(std::atol(name.c_str() + prefix.size()));
            if (owner > 0 && ::kill(owner, 0) != 0 && errno == ESRCH)
                std::filesystem::remove_all(entry.path(), error);
        }
    }

    void kill(int signal) {
        if (!process_) return;
        ::kill(process_->pid(), signal);
        process_->wait(std::chrono::seconds(30));
        process_.reset();
    }

    TempDir dir_;
    std::uint16_t port_;
    std::unique_ptr<ChildProcess> process_;
};

}  // namespace olympus::testing
