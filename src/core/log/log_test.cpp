#include "log/log.hpp"

#include <cstdint>
#include <fcntl.h>
#include <regex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include "log/testing.hpp"
#include "trace/trace_context.hpp"

namespace olympus::log {
namespace {

using testing::split_lines;
using testing::StdoutCapture;

boost::json::object parse_object(const std::string& line) {
    boost::json::value v = boost::json::parse(line);  // rejects invalid UTF-8 and bad escapes
    return v.as_object();
}

std::string format(std::string_view message, std::initializer_list<Field> fields = {},
                   const trace::TraceContext* trace = nullptr, std::string_view dataset = "app") {
    return format_line(Level::info, message, fields, trace, dataset);
}

std::size_t count_occurrences(std::string_view text, std::string_view needle) {
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string_view::npos; pos = text.find(needle, pos + 1)) ++n;
    return n;
}

TEST(Log, LineCarriesTheEcsBaseFields) {
    const auto doc = parse_object(format_line(Level::warn, "disk almost full", {}, nullptr, "app"));
    static const std::regex kRfc3339Millis(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
    EXPECT_TRUE(std::regex_match(std::string(doc.at("@timestamp").as_string()), kRfc3339Millis))
        << doc.at("@timestamp");
    EXPECT_EQ(doc.at("log.level").as_string(), "warn");
    EXPECT_EQ(doc.at("message").as_string(), "disk almost full");
    EXPECT_EQ(doc.at("event.dataset").as_string(), "app");
    EXPECT_TRUE(doc.at("service.name").is_string());
    EXPECT_EQ(doc.at("process.pid").as_int64(), ::getpid());
    EXPECT_FALSE(doc.contains("trace.id"));
    EXPECT_FALSE(doc.contains("span.id"));
}

TEST(Log, TimestampIsCurrentUtc) {
    const auto before = std::chrono::system_clock::now();
    const auto doc = parse_object(format("now"));
    const std::string stamp(doc.at("@timestamp").as_string());
    std::tm tm{};
    ASSERT_NE(::strptime(stamp.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr);
    const auto seconds = std::chrono::system_clock::from_time_t(::timegm(&tm));
    EXPECT_LE(std::chrono::abs(seconds - before), std::chrono::seconds(2));
}

TEST(Log, TraceFieldsComeFromTheTraceContext) {
    const auto trace = trace::TraceContext::start();
    const auto doc = parse_object(format("traced", {}, &trace));
    EXPECT_EQ(doc.at("trace.id").as_string(), trace.trace_id_hex());
    EXPECT_EQ(doc.at("span.id").as_string(), trace.span_id_hex());
    EXPECT_EQ(doc.at("trace.id").as_string().size(), 32u);
    EXPECT_EQ(doc.at("span.id").as_string().size(), 16u);
}

TEST(Log, CallerFieldsKeepTheirJsonTypes) {
    const std::string owned = "owned string";
    const std::size_t bytes = 1234;
    const auto doc = parse_object(format("typed", {{"url.path", "/v1/users"},
                                                   {"labels.owned", owned},
                                                   {"http.response.status_code", 201},
                                                   {"http.response.body.bytes", bytes},
                                                   {"event.duration", std::int64_t{9'000'000'000}},
                                                   {"event.risk_score", 0.25},
                                                   {"tls.established", true}}));
    EXPECT_EQ(doc.at("url.path").as_string(), "/v1/users");
    EXPECT_EQ(doc.at("labels.owned").as_string(), owned);
    EXPECT_EQ(doc.at("http.response.status_code").as_int64(), 201);
    EXPECT_EQ(doc.at("http.response.body.bytes").as_int64(), 1234);
    EXPECT_EQ(doc.at("event.duration").as_int64(), 9'000'000'000);
    EXPECT_DOUBLE_EQ(doc.at("event.risk_score").as_double(), 0.25);
    EXPECT_EQ(doc.at("tls.established").as_bool(), true);
}

TEST(Log, UnsignedValuesAboveInt64MaxSaturate) {
    const auto doc = parse_object(format("big", {{"http.response.body.bytes", UINT64_MAX}}));
    EXPECT_EQ(doc.at("http.response.body.bytes").as_int64(), INT64_MAX);
}

TEST(Log, NonFiniteDoublesBecomeNull) {
    const auto doc = parse_object(
        format("nan", {{"event.risk_score", std::nan("")}, {"event.risk_score_norm", 1.0 / 0.0}}));
    EXPECT_TRUE(doc.at("event.risk_score").is_null());
    EXPECT_TRUE(doc.at("event.risk_score_norm").is_null());
}

TEST(Log, LabelValuesAreAlwaysStringsAsEcsKeywords) {
    const auto doc = parse_object(format(
        "labels", {{"labels.port", 9464}, {"labels.ok", true}, {"labels.ratio", 0.5}, {"labels.name", "x"}}));
    EXPECT_EQ(doc.at("labels.port").as_string(), "9464");
    EXPECT_EQ(doc.at("labels.ok").as_string(), "true");
    EXPECT_EQ(doc.at("labels.ratio").as_string(), "0.5");
    EXPECT_EQ(doc.at("labels.name").as_string(), "x");
}

TEST(Log, EscapesQuotesBackslashesAndControlCharacters) {
    std::string nasty = "say \"hi\" \\ path\nnext\rline\ttab\b\f";
    nasty += '\x01';
    nasty += '\x1f';
    nasty += '\0';
    nasty += "end";
    const std::string line = format(nasty, {{"labels.nasty", nasty}, {"labels.\"key\"", "v"}});
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_NE(line.find(R"(\u0001)"), std::string::npos);
    EXPECT_NE(line.find(R"(\u001f)"), std::string::npos);
    EXPECT_NE(line.find(R"(\u0000)"), std::string::npos);
    const auto doc = parse_object(line);
    EXPECT_EQ(doc.at("message").as_string(), nasty);
    EXPECT_EQ(doc.at("labels.nasty").as_string(), nasty);
    EXPECT_EQ(doc.at("labels.\"key\"").as_string(), "v");
}

TEST(Log, PassesValidUtf8ThroughUnescaped) {
    const std::string text = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e \xef\xbf\xbf";  // é € 𝄞 U+FFFF
    const std::string line = format(text);
    EXPECT_NE(line.find(text), std::string::npos);
    EXPECT_EQ(parse_object(line).at("message").as_string(), text);
}

TEST(Log, ReplacesEachMaximalInvalidUtf8SubpartWithOneReplacementCharacter) {
    const std::string kFffd = "\xef\xbf\xbd";
    struct Case {
        std::string input;
        std::string expected;
    };
    const std::vector<Case> cases = {
        {"a\xff"
         "b",
         "a" + kFffd + "b"},     // never valid
        {"a\xc3", "a" + kFffd},  // truncated at the end
        {"\xe2\x82"
         "x",
         kFffd + "x"},                                        // truncated 3-byte sequence: one U+FFFD
        {"\xc0\xaf", kFffd + kFffd},                          // overlong '/'
        {"\xe0\x80\xaf", kFffd + kFffd + kFffd},              // overlong 3-byte
        {"\xed\xa0\x80", kFffd + kFffd + kFffd},              // UTF-16 surrogate
        {"\xf4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd},  // above U+10FFFF
        {"\x80\xbf", kFffd + kFffd},                          // lone continuation bytes
        {"\xf0\x9f\x98"
         "\xc3\xa9",
         kFffd + "\xc3\xa9"},  // truncated 4-byte, then é
    };
    for (const auto& c : cases) {
        std::string out;
        append_json_escaped(out, c.input);
        EXPECT_EQ(out, c.expected) << "input bytes: " << c.input.size();
        // And the whole line stays valid JSON (Boost.JSON rejects invalid UTF-8).
        EXPECT_EQ(parse_object(format(c.input, {{"labels.x", c.input}})).at("labels.x").as_string(),
                  c.expected);
    }
}

TEST(Log, RedactsSecretFieldsWhateverTheirCase) {
    const std::vector<std::string_view> secret_names = {"http.request.headers.authorization",
                                                        "Cookie",
                                                        "http.response.headers.set-cookie",
                                                        "user.password",
                                                        "db_PASSWD",
                                                        "client_secret",
                                                        "refresh_token",
                                                        "labels.API_KEY",
                                                        "ApiKey",
                                                        "x-api-key",
                                                        "aws.credentials"};
    for (std::string_view name : secret_names) {
        const std::string line = format("secret", {{name, "hunter2-value"}, {"url.path", "/ok"}});
        EXPECT_EQ(line.find("hunter2"), std::string::npos) << name << ": " << line;
        const auto doc = parse_object(line);
        EXPECT_EQ(doc.at(name).as_string(), "[REDACTED]") << name;
        EXPECT_EQ(doc.at("url.path").as_string(), "/ok");
        EXPECT_TRUE(is_secret_name(name)) << name;
    }
    // Numbers are redacted too: a PIN or an OTP is a number.
    const auto doc = parse_object(format("n", {{"labels.otp_token", 123456}}));
    EXPECT_EQ(doc.at("labels.otp_token").as_string(), "[REDACTED]");
    EXPECT_FALSE(is_secret_name("http.request.method"));
    EXPECT_FALSE(is_secret_name("user.id"));
}

TEST(Log, DropsFieldsThatRepeatBaseFieldsOrEarlierFields) {
    const std::string line = format(
        "original", {{"message", "spoofed"}, {"labels.a", 1}, {"labels.a", 2}, {"log.level", "error"}});
    EXPECT_EQ(count_occurrences(line, "\"message\":"), 1u);
    EXPECT_EQ(count_occurrences(line, "\"labels.a\":"), 1u);
    EXPECT_EQ(count_occurrences(line, "\"log.level\":"), 1u);
    const auto doc = parse_object(line);
    EXPECT_EQ(doc.at("message").as_string(), "original");
    EXPECT_EQ(doc.at("labels.a").as_string(), "1");
    EXPECT_EQ(doc.at("log.level").as_string(), "info");
}

TEST(Log, ParsesLevelNamesAndRejectsUnknownOnes) {
    EXPECT_EQ(parse_level("debug"), Level::debug);
    EXPECT_EQ(parse_level("INFO"), Level::info);
    EXPECT_EQ(parse_level("warning"), Level::warn);
    EXPECT_EQ(parse_level("Error"), Level::error);
    EXPECT_THROW(parse_level("verbose"), std::invalid_argument);
    EXPECT_THROW(parse_level(""), std::invalid_argument);
}

TEST(Log, WritesSynchronouslyBeforeInitAndFiltersByLevel) {
    set_level(Level::warn);
    StdoutCapture capture;
    EXPECT_FALSE(enabled(Level::info));
    info("filtered out");
    debug("filtered out too");
    warn("kept", {{"labels.n", 1}});
    const auto lines = split_lines(capture.finish());
    set_level(Level::info);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(parse_object(lines[0]).at("message").as_string(), "kept");
}

TEST(Log, AsyncWriterWritesEveryLineInOrderPerThreadByFlush) {
    StdoutCapture capture;
    init({.service_name = "olympus-test", .service_version = "1.2.3", .min_level = Level::debug});
    const std::uint64_t dropped_before = dropped_lines();
    constexpr int kThreads = 4;
    constexpr int kLines = 1000;  // 4000 lines: well within the default queue of 8192
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([t] {
            for (int i = 0; i < kLines; ++i) debug("line", {{"labels.thread", t}, {"labels.seq", i}});
        });
    }
    for (auto& thread : threads) thread.join();
    flush();
    const auto lines = split_lines(capture.finish());
    EXPECT_EQ(dropped_lines(), dropped_before);
    ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kLines));
    std::vector<std::int64_t> next(kThreads, 0);
    for (const auto& line : lines) {
        const auto doc = parse_object(line);
        EXPECT_EQ(doc.at("service.name").as_string(), "olympus-test");
        EXPECT_EQ(doc.at("service.version").as_string(), "1.2.3");
        const auto t = std::stoll(std::string(doc.at("labels.thread").as_string()));
        EXPECT_EQ(std::stoll(std::string(doc.at("labels.seq").as_string())),
                  next[static_cast<std::size_t>(t)]++);
    }
    set_level(Level::info);
}

TEST(Log, FullQueueDropsOldestLinesAndCountsThemWithoutBlocking) {
    // stdout becomes a pipe nobody reads yet: the writer thread blocks once the pipe is full, the
    // small queue fills, and from then on each new line overwrites the oldest queued one.
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    std::fflush(stdout);
    const int saved = ::dup(STDOUT_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[1]);

    Options options;
    options.service_name = "olympus-test";
    options.queue_lines = 16;
    init(options);
    const std::uint64_t dropped_before = dropped_lines();
    constexpr int kLines = 5000;  // ~1.2 MB of lines, far beyond a 64 KiB pipe
    const std::string padding(100, 'x');
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kLines; ++i) info("overrun", {{"labels.seq", i}, {"labels.pad", padding}});
    const auto elapsed = std::chrono::steady_clock::now() - start;
    const std::uint64_t dropped = dropped_lines() - dropped_before;

    std::string received;
    std::thread reader([&] {
        char buf[65536];
        ssize_t n;
        while ((n = ::read(fds[0], buf, sizeof buf)) > 0) received.append(buf, static_cast<std::size_t>(n));
    });
    flush();
    ::dup2(saved, STDOUT_FILENO);  // closes the last write end: the reader sees EOF
    ::close(saved);
    reader.join();
    ::close(fds[0]);

    EXPECT_GT(dropped, 0u);
    EXPECT_LT(elapsed, std::chrono::seconds(10));  // never blocked on the full pipe
    const auto lines = split_lines(received);
    EXPECT_EQ(lines.size() + dropped, static_cast<std::size_t>(kLines));
    // The newest line survives: overrun drops the oldest.
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(parse_object(lines.back()).at("labels.seq").as_string(), std::to_string(kLines - 1));
}

TEST(Log, QueuedLinesAreWrittenWhenTheProcessExitsWithoutFlush) {
    // The child (a death test runs the statement in a forked process) writes into a pipe that is
    // not read for its first second, so at exit most lines are still queued behind a full pipe;
    // it exits without calling flush(). Only the exit-time flush can get every line out.
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    std::string received;
    std::thread reader([&] {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        char buf[65536];
        ssize_t n;
        while ((n = ::read(fds[0], buf, sizeof buf)) > 0) received.append(buf, static_cast<std::size_t>(n));
    });
    constexpr int kLines = 2000;  // ~500 KB: several times what a pipe holds
    EXPECT_EXIT(
        {
            ::dup2(fds[1], STDOUT_FILENO);
            Options options;
            options.queue_lines = 2 * kLines;
            init(options);
            const std::string padding(200, 'p');
            for (int i = 0; i < kLines; ++i) {
                info("before exit", {{"labels.seq", std::to_string(i)}, {"labels.pad", padding}});
            }
            std::exit(0);
        },
        ::testing::ExitedWithCode(0), "");
    ::close(fds[1]);  // with the child gone, the reader sees EOF
    reader.join();
    ::close(fds[0]);
    const auto lines = split_lines(received);
    ASSERT_EQ(lines.size(), static_cast<std::size_t>(kLines));
    EXPECT_EQ(parse_object(lines.back()).at("labels.seq").as_string(), std::to_string(kLines - 1));
}

}  // namespace
}  // namespace olympus::log
