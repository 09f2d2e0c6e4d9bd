// The exposition text must satisfy the real `promtool check metrics`: syntax and lint both.

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "metrics/metrics.hpp"
#include "metrics/testing.hpp"

namespace olympus::metrics {
namespace {

using testing::promtool_check;

class Promtool : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(std::filesystem::exists(testing::kPromtool))
            << "promtool not found (Debian package prometheus, see scripts/bootstrap)";
    }
};

TEST_F(Promtool, AcceptsARegistryWithEveryKindOfMetric) {
    Registry registry;
    register_process_metrics(registry);
    auto& requests = registry.counter("http_server_requests_total", "HTTP requests served.",
                                      {"method", "route", "status"});
    requests.labels({"GET", "/v1/users/{id}", "200"}).inc(41);
    requests.labels({"POST", "/v1/orders", "201"}).inc();
    requests.labels({"GET", "unmatched", "404"}).inc(1e20);
    registry.counter("olympus_weird_labels_total", "Label values that need escaping.", {"value"})
        .labels({"back\\slash \"quote\"\nnewline ünïcode"})
        .inc(0.5);
    registry.gauge("http_server_active_requests", "Requests being served.").labels({}).set(3);
    auto& special = registry.gauge("olympus_special_values", "Non-finite values.", {"kind"});
    special.labels({"nan"}).set(std::nan(""));
    special.labels({"inf"}).set(std::numeric_limits<double>::infinity());
    special.labels({"ninf"}).set(-std::numeric_limits<double>::infinity());
    special.labels({"tiny"}).set(1e-300);
    auto& latency =
        registry.histogram("http_server_request_duration_seconds", "Request latency.", {"method", "route"});
    for (double v : {0.0001, 0.0005, 0.003, 0.2, 3.0, 60.0})
        latency.labels({"GET", "/v1/users/{id}"}).observe(v);
    latency.labels({"POST", "/v1/orders"});  // a child that has seen nothing yet
    registry.histogram("olympus_payload_bytes", "Payload sizes.", {}, {64, 1024, 65536})
        .labels({})
        .observe(100);
    registry.counter("olympus_unused_total", "A labelled family without children.", {"kind"});

    const std::string text = registry.render();
    const auto result = promtool_check(text);
    EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- rendered:\n" << text;
}

// The harness must see promtool's failures, or the test above proves nothing.
TEST_F(Promtool, HarnessReportsSyntaxErrorsAndLintProblems) {
    const auto syntax =
        promtool_check("# TYPE olympus_x_total counter\nolympus_x_total{a=\"unterminated} 1\n");
    EXPECT_NE(syntax.exit_code, 0) << syntax.output;
    const auto lint = promtool_check("# HELP olympus_x X.\n# TYPE olympus_x counter\nolympus_x 1\n");
    EXPECT_NE(lint.exit_code, 0) << lint.output;  // a counter without _total
}

}  // namespace
}  // namespace olympus::metrics
