#include "metrics/metrics.hpp"

#include <chrono>
#include <cmath>
#include <ctime>
#include <fcntl.h>
#include <limits>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

namespace olympus::metrics {
namespace {

// The value of the first sample line starting with `series` ("name{labels}" or "name").
std::string sample(const std::string& text, const std::string& series) {
    const std::string prefix = "\n" + series + " ";
    const auto pos = ("\n" + text).find(prefix);
    if (pos == std::string::npos) return "<missing>";
    const auto start = pos + prefix.size() - 1;
    return text.substr(start, text.find('\n', start) - start);
}

TEST(Metrics, FormatsValuesAsPrometheusParsesThem) {
    EXPECT_EQ(format_value(0), "0");
    EXPECT_EQ(format_value(-0.0), "0");
    EXPECT_EQ(format_value(42), "42");
    EXPECT_EQ(format_value(-3), "-3");
    EXPECT_EQ(format_value(9007199254740992.0), "9007199254740992");
    EXPECT_EQ(format_value(0.005), "0.005");
    EXPECT_EQ(format_value(0.0005), "0.0005");  // not 5e-04: le labels must match what Go clients write
    EXPECT_EQ(format_value(0.0001), "0.0001");
    EXPECT_EQ(format_value(0.00001), "1e-05");
    EXPECT_EQ(format_value(123456.789), "123456.789");
    EXPECT_EQ(format_value(-1e-300), "-1e-300");
    EXPECT_EQ(format_value(2.5), "2.5");
    EXPECT_EQ(format_value(0.1 + 0.2), "0.30000000000000004");  // round-trips exactly
    EXPECT_EQ(format_value(1e20), "1e+20");
    EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(Metrics, RendersTheTextFormatExactly) {
    Registry registry;
    registry.counter("olympus_jobs_total", "Jobs done.", {"kind"}).labels({"a\\b\"c\nd"}).inc(3);
    registry.gauge("olympus_temperature_celsius", "Line one\nwith \\ backslash.").labels({}).set(-1.5);
    auto& latency = registry.histogram("olympus_latency_seconds", "Latency.", {"route"}, {0.5, 1});
    latency.labels({"/x"}).observe(0.25);
    latency.labels({"/x"}).observe(0.5);  // bounds are inclusive
    latency.labels({"/x"}).observe(4);
    registry.counter("olympus_empty_total", "Never touched.", {"kind"});

    EXPECT_EQ(registry.render(),
              "# HELP olympus_empty_total Never touched.\n"
              "# TYPE olympus_empty_total counter\n"
              "# HELP olympus_jobs_total Jobs done.\n"
              "# TYPE olympus_jobs_total counter\n"
              "olympus_jobs_total{kind=\"a\\\\b\\\"c\\nd\"} 3\n"
              "# HELP olympus_latency_seconds Latency.\n"
              "# TYPE olympus_latency_seconds histogram\n"
              "olympus_latency_seconds_bucket{route=\"/x\",le=\"0.5\"} 2\n"
              "olympus_latency_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"
              "olympus_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"
              "olympus_latency_seconds_sum{route=\"/x\"} 4.75\n"
              "olympus_latency_seconds_count{route=\"/x\"} 3\n"
              "# HELP olympus_temperature_celsius Line one\\nwith \\\\ backslash.\n"
              "# TYPE olympus_temperature_celsius gauge\n"
              "olympus_temperature_celsius -1.5\n");
}

TEST(Metrics, UnlabelledHistogramHasOnlyTheLeLabel) {
    Registry registry;
    auto& h = registry.histogram("olympus_size_bytes", "Sizes.", {}, {10, 100}).labels({});
    h.observe(10);
    h.observe(1000);
    const auto text = registry.render();
    EXPECT_EQ(sample(text, "olympus_size_bytes_bucket{le=\"10\"}"), "1");
    EXPECT_EQ(sample(text, "olympus_size_bytes_bucket{le=\"100\"}"), "1");
    EXPECT_EQ(sample(text, "olympus_size_bytes_bucket{le=\"+Inf\"}"), "2");
    EXPECT_EQ(sample(text, "olympus_size_bytes_sum"), "1010");
    EXPECT_EQ(sample(text, "olympus_size_bytes_count"), "2");
    EXPECT_EQ(h.count(), 2u);
    EXPECT_DOUBLE_EQ(h.sum(), 1010);
}

TEST(Metrics, UnlabelledMetricsAreExportedAsZeroFromRegistration) {
    Registry registry;
    registry.counter("olympus_starts_total", "Starts.");
    registry.gauge("olympus_queue_depth", "Depth.");
    const auto text = registry.render();
    EXPECT_EQ(sample(text, "olympus_starts_total"), "0");
    EXPECT_EQ(sample(text, "olympus_queue_depth"), "0");
}

TEST(Metrics, DefaultLatencyBucketsSpanHalfAMillisecondToTenSeconds) {
    const auto& buckets = default_latency_buckets();
    ASSERT_FALSE(buckets.empty());
    EXPECT_DOUBLE_EQ(buckets.front(), 0.0005);
    EXPECT_DOUBLE_EQ(buckets.back(), 10.0);
    EXPECT_TRUE(std::is_sorted(buckets.begin(), buckets.end()));
}

TEST(Metrics, ChildrenAreStableReferences) {
    Registry registry;
    auto& family = registry.counter("olympus_requests_total", "Requests.", {"route", "method"});
    Counter& first = family.labels({"/a", "GET"});
    for (int i = 0; i < 1000; ++i) family.labels({"/r" + std::to_string(i), "GET"});
    EXPECT_EQ(&family.labels({"/a", "GET"}), &first);
    EXPECT_EQ(&family.labels(std::vector<std::string>{"/a", "GET"}), &first);
    first.inc();
    EXPECT_EQ(family.labels({"/a", "GET"}).value(), 1);
}

TEST(Metrics, ReRegisteringReturnsTheSameFamilyOrThrowsOnAMismatch) {
    Registry registry;
    auto& a = registry.counter("olympus_x_total", "X.", {"k"});
    EXPECT_EQ(&registry.counter("olympus_x_total", "X again.", {"k"}), &a);
    EXPECT_THROW(registry.counter("olympus_x_total", "X.", {"other"}), std::invalid_argument);
    EXPECT_THROW(registry.gauge("olympus_x_total", "X."), std::invalid_argument);
    auto& h = registry.histogram("olympus_h_seconds", "H.", {}, {1, 2});
    EXPECT_EQ(&registry.histogram("olympus_h_seconds", "H.", {}, {1, 2}), &h);
    EXPECT_THROW(registry.histogram("olympus_h_seconds", "H.", {}, {1, 3}), std::invalid_argument);
}

TEST(Metrics, RejectsInvalidNamesLabelsAndBuckets) {
    Registry registry;
    EXPECT_THROW(registry.counter("olympus_requests", "no _total suffix"), std::invalid_argument);
    EXPECT_THROW(registry.gauge("9lives", "starts with a digit"), std::invalid_argument);
    EXPECT_THROW(registry.gauge("olympus-dash", "dash"), std::invalid_argument);
    EXPECT_THROW(registry.gauge("olympus_g", "bad label", {"bad-label"}), std::invalid_argument);
    EXPECT_THROW(registry.gauge("olympus_g2", "reserved label", {"__name"}), std::invalid_argument);
    EXPECT_THROW(registry.histogram("olympus_h", "le is reserved", {"le"}), std::invalid_argument);
    EXPECT_THROW(registry.histogram("olympus_h2", "unsorted", {}, {2, 1}), std::invalid_argument);
    EXPECT_THROW(registry.histogram("olympus_h3", "empty", {}, {}), std::invalid_argument);
    auto& family = registry.counter("olympus_ok_total", "ok", {"a", "b"});
    EXPECT_THROW(family.labels({"only one"}), std::invalid_argument);
    EXPECT_THROW(family.labels({"1", "2", "3"}), std::invalid_argument);
}

TEST(Metrics, CounterIgnoresNegativeAndNanAmounts) {
    Registry registry;
    Counter& c = registry.counter("olympus_c_total", "C.").labels({});
    c.inc(2);
    c.inc(-1);
    c.inc(std::nan(""));
    EXPECT_EQ(c.value(), 2);
}

TEST(Metrics, GaugeSetsAddsAndSubtracts) {
    Registry registry;
    Gauge& g = registry.gauge("olympus_g", "G.").labels({});
    g.set(10);
    g.add(2.5);
    g.sub(0.5);
    EXPECT_EQ(g.value(), 12);
}

TEST(Metrics, ConcurrentUpdatesFromManyThreadsAddUpExactly) {
    Registry registry;
    Counter& counter = registry.counter("olympus_hits_total", "Hits.").labels({});
    Gauge& gauge = registry.gauge("olympus_in_flight", "In flight.").labels({});
    Histogram& histogram = registry.histogram("olympus_h_seconds", "H.", {}, {0.5, 1}).labels({});
    constexpr int kThreads = 8;
    constexpr int kIterations = 20000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kIterations; ++i) {
                counter.inc();
                gauge.add(1);
                histogram.observe(i % 2 == 0 ? 0.25 : 2.0);  // exact binary fractions: exact sum
                gauge.sub(1);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    constexpr int kTotal = kThreads * kIterations;
    EXPECT_EQ(counter.value(), kTotal);
    EXPECT_EQ(gauge.value(), 0);
    EXPECT_EQ(histogram.count(), static_cast<std::uint64_t>(kTotal));
    EXPECT_EQ(histogram.sum(), kTotal / 2 * 0.25 + kTotal / 2 * 2.0);
    const auto text = registry.render();
    EXPECT_EQ(sample(text, "olympus_hits_total"), std::to_string(kTotal));
    EXPECT_EQ(sample(text, "olympus_h_seconds_bucket{le=\"0.5\"}"), std::to_string(kTotal / 2));
    EXPECT_EQ(sample(text, "olympus_h_seconds_bucket{le=\"1\"}"), std::to_string(kTotal / 2));
    EXPECT_EQ(sample(text, "olympus_h_seconds_bucket{le=\"+Inf\"}"), std::to_string(kTotal));
}

TEST(Metrics, ConcurrentLabelLookupsCreateEachChildOnce) {
    Registry registry;
    auto& family = registry.counter("olympus_routes_total", "Per route.", {"route"});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) family.labels({"/r" + std::to_string(i % 50)}).inc();
        });
    }
    for (auto& thread : threads) thread.join();
    const auto text = registry.render();
    for (int i = 0; i < 50; ++i) {
        EXPECT_EQ(sample(text, "olympus_routes_total{route=\"/r" + std::to_string(i) + "\"}"), "160");
    }
}

TEST(Metrics, CollectCallbacksRunAtEveryScrape) {
    Registry registry;
    Gauge& depth = registry.gauge("olympus_queue_depth", "Depth.").labels({});
    int scrapes = 0;
    registry.on_collect([&] { depth.set(++scrapes * 10); });
    EXPECT_EQ(sample(registry.render(), "olympus_queue_depth"), "10");
    EXPECT_EQ(sample(registry.render(), "olympus_queue_depth"), "20");
}

TEST(Metrics, ProcessMetricsDescribeThisProcess) {
    Registry registry;
    register_process_metrics(registry);
    const auto before = registry.render();
    const double fds_before = std::stod(sample(before, "process_open_fds"));

    // Open three more descriptors and burn a little CPU: both must show at the next scrape.
    int extra[3];
    for (int& fd : extra) fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    // Burn CPU time, not wall time: on a loaded machine a wall-clock wait may get no CPU at all.
    // /proc counts in clock ticks (10 ms), so 50 ms always shows.
    const auto cpu_now = [] {
        timespec ts{};
        ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
    };
    const double cpu_start = cpu_now();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    volatile double sink = 0;
    while (cpu_now() - cpu_start < 0.05 && std::chrono::steady_clock::now() < give_up) {
        for (int i = 0; i < 10000; ++i) sink = sink + std::sqrt(static_cast<double>(sink) + 1);
    }
    const auto text = registry.render();
    for (int fd : extra) ::close(fd);

    EXPECT_EQ(std::stod(sample(text, "process_open_fds")), fds_before + 3);
    rlimit limit{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
    EXPECT_EQ(std::stod(sample(text, "process_max_fds")), static_cast<double>(limit.rlim_cur));
    EXPECT_GT(std::stod(sample(text, "process_resident_memory_bytes")), 1e6);
    EXPECT_GT(std::stod(sample(text, "process_virtual_memory_bytes")),
              std::stod(sample(text, "process_resident_memory_bytes")));
    EXPECT_GT(std::stod(sample(text, "process_cpu_seconds_total")),
              std::stod(sample(before, "process_cpu_seconds_total")));
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    const double start = std::stod(sample(text, "process_start_time_seconds"));
    EXPECT_LE(start, now + 1);
    EXPECT_GT(start, now - 24 * 3600);  // this test process started recently
}

}  // namespace
}  // namespace olympus::metrics
