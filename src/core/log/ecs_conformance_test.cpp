// Every key of the lines we write must be an Elastic Common Schema field with a value of the type
// ECS gives it, as checked by tests/tools/ecs_check.py against the upstream ecs_flat.yml.

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "log/log.hpp"
#include "log/testing.hpp"
#include "trace/trace_context.hpp"

namespace olympus::log {
namespace {

using testing::ecs_check;
using testing::split_lines;
using testing::StdoutCapture;

class EcsConformance : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(std::filesystem::exists(testing::ecs_spec_path()))
            << "ECS field definitions not found at " << testing::ecs_spec_path()
            << " (set OLYMPUS_SPECS_DIR)";
    }
};

// Lines shaped like the ones Olympus writes: application lines with and without a trace, error
// lines, and access lines with every field the access log uses.
std::vector<std::string> representative_lines() {
    const auto trace = trace::TraceContext::start();
    const auto child = trace.child();
    const std::int64_t duration_ns = 1'234'567;
    std::vector<std::string> lines;
    lines.push_back(format_line(Level::info, "service started", {{"url.full", "http://127.0.0.1:8080/"}},
                                nullptr, "app"));
    lines.push_back(format_line(Level::debug, "query", {{"event.duration", duration_ns}}, &child, "app"));
    lines.push_back(format_line(Level::error, "unhandled exception while serving a request",
                                {{"error.message", "boom \"quoted\"\n\x01"},
                                 {"error.type", "std::runtime_error"},
                                 {"url.path", "/v1/users/42"}},
                                &trace, "app"));
    lines.push_back(format_line(Level::info, "GET /v1/users/42 200",
                                {{"http.request.method", "GET"},
                                 {"url.path", "/v1/users/42"},
                                 {"http.response.status_code", 200},
                                 {"event.duration", duration_ns},
                                 {"client.ip", "127.0.0.1"},
                                 {"user_agent.original", "curl/7.88.1"},
                                 {"http.request.id", "req-1"},
                                 {"user.id", "u-42"},
                                 {"http.response.body.bytes", std::size_t{512}}},
                                &trace, "access"));
    lines.push_back(format_line(Level::warn, "ipv6 client", {{"client.ip", "::1"}, {"event.risk_score", 2.5}},
                                nullptr, "app"));
    // Redacted values are strings whatever the original type was.
    lines.push_back(format_line(Level::info, "redacted", {{"labels.api_token", 12}}, nullptr, "app"));
    // Label values of any type become keywords.
    lines.push_back(format_line(Level::info, "listening",
                                {{"labels.admin_port", 9464}, {"labels.tls", false}, {"labels.load", 0.75}},
                                nullptr, "app"));
    return lines;
}

TEST_F(EcsConformance, FormattedLinesUseOnlyEcsFieldsWithEcsTypes) {
    const auto result = ecs_check(representative_lines());
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("0 problems"), std::string::npos) << result.output;
}

TEST_F(EcsConformance, LinesFromTheAsyncWriterConform) {
    StdoutCapture capture;
    Options options;
    options.service_name = "olympus-ecs";
    options.service_version = "0.1.0";
    options.min_level = Level::debug;
    init(options);
    const auto trace = trace::TraceContext::start();
    info("from the writer thread", {{"http.request.method", "POST"}, {"http.response.status_code", 201}},
         &trace);
    debug("debug line", {{"labels.cache", "miss"}});
    write(Level::info, "access", {{"url.path", "/livez"}, {"event.duration", std::int64_t{42}}}, &trace,
          "access");
    flush();
    set_level(Level::info);
    const auto lines = split_lines(capture.finish());
    ASSERT_EQ(lines.size(), 3u);
    const auto result = ecs_check(lines);
    EXPECT_EQ(result.exit_code, 0) << result.output;
}

// The checker itself must be able to fail, or the tests above prove nothing.
TEST_F(EcsConformance, CheckerRejectsUnknownFieldsWrongTypesAndDuplicates) {
    // One line per mistake, checked in one run: each must be reported by its line number.
    const std::vector<std::string> bad = {
        format_line(Level::info, "m", {{"http.status", 200}}, nullptr, "app"),        // not ECS
        format_line(Level::info, "m", {{"event.duration", "12ms"}}, nullptr, "app"),  // long as string
        format_line(Level::info, "m", {{"http.response.status_code", 2.5}}, nullptr,
                    "app"),                                                           // long as float
        format_line(Level::info, "m", {{"client.ip", "not-an-ip"}}, nullptr, "app"),  // ip
        format_line(Level::info, "m", {{"url.path", 7}}, nullptr, "app"),             // wildcard as number
        R"({"@timestamp":"2024-01-01T00:00:00.000Z","log.level":"info","message":"m","labels.count":3})",
        format_line(Level::info, "m", {{"labels", "x"}}, nullptr, "app"),  // an object field
        R"({"@timestamp":"yesterday","log.level":"info","message":"m"})",  // date
        R"({"@timestamp":"2024-01-01T00:00:00.000Z","log.level":"info","message":"a","message":"b"})",
    };
    const auto result = ecs_check(bad);
    EXPECT_EQ(result.exit_code, 1) << result.output;
    for (std::size_t i = 1; i <= bad.size(); ++i) {
        EXPECT_NE(result.output.find("line " + std::to_string(i) + ":"), std::string::npos)
            << "line " << i << " not rejected: " << bad[i - 1] << "\n"
            << result.output;
    }
}

}  // namespace
}  // namespace olympus::log
