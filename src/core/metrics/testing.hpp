#pragma once

// Test support, header-only: runs the real `promtool check metrics` (Debian package prometheus) on
// an exposition text.

#include <cstdio>
#include <fcntl.h>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace olympus::metrics::testing {

inline constexpr const char* kPromtool = "/usr/bin/promtool";

struct PromtoolResult {
    int exit_code = -1;  // 0 clean, 3 lint problems, 1 syntax error
    std::string output;
};

inline PromtoolResult promtool_check(const std::string& text) {
    char path[] = "/tmp/olympus-metrics-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!written) throw std::runtime_error("cannot write the exposition text");
    const std::string command = std::string(kPromtool) + " check metrics < '" + path + "' 2>&1";
    PromtoolResult result;
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

}  // namespace olympus::metrics::testing
