#pragma once

// Test support, header-only: runs the real `promtool check metrics` (Debian package prometheus) on
// an exposition text.

#include <string>

#include "testing/process.hpp"

namespace olympus::metrics::testing {

inline constexpr const char* kPromtool = "/usr/bin/promtool";

// exit_code: 0 clean, 3 lint problems, 1 syntax error.
using PromtoolResult = olympus::testing::CheckResult;

inline PromtoolResult promtool_check(const std::string& text) {
    return olympus::testing::check_text_with(text, [](const std::string& path) {
        return std::string(kPromtool) + " check metrics < '" + path + "'";
    });
}

}  // namespace olympus::metrics::testing
