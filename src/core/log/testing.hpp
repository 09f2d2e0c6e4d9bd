#pragma once

// Test support for log lines, header-only: capture what the process writes on stdout, and check
// lines against the Elastic Common Schema with tests/tools/ecs_check.py.

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#ifndef OLYMPUS_SOURCE_DIR
#error "testing.hpp is for the test binary, which defines OLYMPUS_SOURCE_DIR"
#endif

#include "testing/process.hpp"

namespace olympus::log::testing {

// Redirects the process's stdout (descriptor 1, where olympus::log writes) into a temporary file.
// A file rather than a pipe, so that a writer can never block on a reader that is not draining.
class StdoutCapture {
  public:
    StdoutCapture() {
        std::fflush(stdout);
        char path[] = "/tmp/olympus-stdout-XXXXXX";
        file_ = ::mkstemp(path);
        if (file_ < 0) throw std::runtime_error("mkstemp failed");
        ::unlink(path);
        saved_ = ::dup(STDOUT_FILENO);
        ::dup2(file_, STDOUT_FILENO);
    }
    ~StdoutCapture() {
        restore();
        ::close(file_);
    }
    StdoutCapture(const StdoutCapture&) = delete;
    StdoutCapture& operator=(const StdoutCapture&) = delete;

    // Puts stdout back and returns everything written meanwhile.
    std::string finish() {
        restore();
        std::string out;
        char buf[65536];
        ::lseek(file_, 0, SEEK_SET);
        while (true) {
            ssize_t n = ::read(file_, buf, sizeof buf);
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
        return out;
    }

  private:
    void restore() {
        if (saved_ < 0) return;
        std::fflush(stdout);
        ::dup2(saved_, STDOUT_FILENO);
        ::close(saved_);
        saved_ = -1;
    }

    int file_ = -1;
    int saved_ = -1;
};

// The text split at newlines; the last line must be terminated (a partial line is an error).
inline std::vector<std::string> split_lines(std::string_view text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) throw std::runtime_error("unterminated last line");
        lines.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

// Where the ECS field definitions are: $OLYMPUS_SPECS_DIR/ecs/ecs_flat.yml, by default the copy
// under tests/specs.
inline std::string ecs_spec_path() {
    const char* dir = std::getenv("OLYMPUS_SPECS_DIR");
    return std::string(dir != nullptr ? dir : OLYMPUS_SOURCE_DIR "/tests/specs") + "/ecs/ecs_flat.yml";
}

using EcsCheckResult = olympus::testing::CheckResult;

// Runs tests/tools/ecs_check.py (Debian's /usr/bin/python3 with python3-yaml) on these lines.
inline EcsCheckResult ecs_check(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    return olympus::testing::check_text_with(text, [](const std::string& path) {
        return "/usr/bin/python3 '" OLYMPUS_SOURCE_DIR "/tests/tools/ecs_check.py' --spec '" +
               ecs_spec_path() + "' '" + path + "'";
    });
}

}  // namespace olympus::log::testing
