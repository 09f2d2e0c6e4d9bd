#pragma once

// Test support, header-only so that nothing of it reaches the production library: temporary
// directories, free loopback ports, and child processes (real peers such as nginx, or the openssl
// CLI) that are killed by PID when the test ends, and also when the test binary dies first.

#include <arpa/inet.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <optional>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

namespace olympus::testing {

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
  public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "olympus-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr)
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::string file(std::string_view name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

inline void write_file(const std::filesystem::path& path, std::string_view content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

// A port on 127.0.0.1 that was free a moment ago, for peers that cannot be told to bind port 0.
// The exit code and combined output of a checker command run on a text.
struct CheckResult {
    int exit_code = -1;
    std::string output;
};

// Writes `text` to a temporary file, runs the shell command `make_command(path)` and collects its
// output (stdout and stderr); the file is removed afterwards.
template <class MakeCommand>
CheckResult check_text_with(std::string_view text, MakeCommand make_command) {
    char path[] = "/tmp/olympus-check-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!written) {
        ::unlink(path);
        throw std::runtime_error("cannot write the text to check");
    }
    const std::string command = make_command(std::string(path)) + " 2>&1";
    CheckResult result;
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
        const int status = ::pclose(pipe);
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    ::unlink(path);
    return result;
}

inline std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        const int error = errno;
        ::close(fd);
        throw std::system_error(error, std::generic_category(), "bind 127.0.0.1:0");
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

// True once something accepts TCP connections on 127.0.0.1:port.
inline bool port_accepts(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    return connected;
}

// A child process started with fork/exec; SIGTERM then SIGKILL by PID when destroyed. Its stdout
// and stderr go to `output_file` (or are discarded).
class ChildProcess {
  public:
    explicit ChildProcess(std::vector<std::string> argv, const std::string& output_file = "/dev/null") {
        if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
        // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
        std::vector<char*> args;
        for (auto& arg : argv) args.push_back(arg.data());
        args.push_back(nullptr);
        const int out = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0) throw std::system_error(errno, std::generic_category(), "open " + output_file);
        const pid_t parent = ::getpid();

        pid_ = ::fork();
        if (pid_ < 0) {
            const int error = errno;
            ::close(out);
            throw std::system_error(error, std::generic_category(), "fork");
        }
        if (pid_ == 0) {
            // The peer must not outlive a test binary that crashes or is killed.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            ::dup2(out, STDOUT_FILENO);
            ::dup2(out, STDERR_FILENO);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        ::close(out);
    }
    ~ChildProcess() { stop(); }
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }

    // The exit status once the process has ended (waitpid's status), without blocking.
    std::optional<int> poll() {
        if (exited_) return status_;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            status_ = status;
            return status_;
        }
        return std::nullopt;
    }

    // Blocks until the process ends or `timeout` passes.
    std::optional<int> wait(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (auto status = poll()) return status;
            if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }

    void stop() {
        if (pid_ <= 0 || poll()) return;
        ::kill(pid_, SIGTERM);
        if (wait(std::chrono::milliseconds(3000))) return;
        ::kill(pid_, SIGKILL);
        wait(std::chrono::milliseconds(3000));
    }

  private:
    pid_t pid_ = -1;
    bool exited_ = false;
    int status_ = 0;
};

// Runs a command to completion; throws with its output when it fails or takes over `timeout`.
inline void run_command(std::vector<std::string> argv, const std::filesystem::path& scratch_dir,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(30'000)) {
    const auto output = (scratch_dir / "command-output.txt").string();
    std::string line;
    for (const auto& arg : argv) line += (line.empty() ? "" : " ") + arg;
    ChildProcess child(std::move(argv), output);
    const auto status = child.wait(timeout);
    if (!status) throw std::runtime_error("command timed out: " + line);
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
        throw std::runtime_error("command failed: " + line + "\n" + read_file(output));
    }
}

}  // namespace olympus::testing
