#include "log/log.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#include <spdlog/async_logger.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/details/thread_pool.h>
#include <spdlog/sinks/base_sink.h>

#include "trace/trace_context.hpp"

namespace olympus::log {

namespace {

// Written only by init(), which runs before other threads log (see log.hpp).
struct Config {
    std::string service_name = "olympus";
    std::string service_version;
};
Config g_config;
std::atomic<Level> g_min_level{Level::info};
std::atomic<std::int64_t> g_pid{0};

std::int64_t pid() {
    std::int64_t p = g_pid.load(std::memory_order_relaxed);
    if (p == 0) {
        p = ::getpid();
        g_pid.store(p, std::memory_order_relaxed);
    }
    return p;
}

// Writes the whole buffer to stdout's descriptor, retrying on short writes and EINTR. Errors are
// ignored: there is nowhere left to report a failing stdout.
void write_all(const char* data, std::size_t size) {
    while (size > 0) {
        ssize_t n = ::write(STDOUT_FILENO, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
}

// The writer thread's sink: the pattern is "%v" (the line is preformatted), and lines are batched
// into one write(2) while more are queued, so a burst costs a few syscalls instead of one per line.
class StdoutBatchSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
  public:
    void attach(spdlog::details::thread_pool* pool) { pool_ = pool; }

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        formatter_->format(msg, batch_);
        if (batch_.size() >= kBatchBytes || pool_ == nullptr || pool_->queue_size() == 0) flush_();
    }
    void flush_() override {
        write_all(batch_.data(), batch_.size());
        batch_.clear();
    }

  private:
    static constexpr std::size_t kBatchBytes = 64 * 1024;
    spdlog::memory_buf_t batch_;
    spdlog::details::thread_pool* pool_ = nullptr;
};

struct AsyncWriter {
    std::shared_ptr<spdlog::details::thread_pool> pool;
    std::shared_ptr<StdoutBatchSink> sink;
    std::shared_ptr<spdlog::async_logger> logger;
};

// The writer is published through an atomic pointer. A caller announces itself in g_users before
// loading the pointer; flush() unpublishes the pointer and then waits for g_users to reach zero, so
// no caller can still be using a writer that flush() destroys (both sides are seq_cst).
std::atomic<AsyncWriter*> g_writer{nullptr};
std::atomic<std::uint64_t> g_users{0};
std::mutex g_lifecycle;                          // serialises init() and flush()
std::atomic<std::uint64_t> g_dropped_before{0};  // dropped by writers already stopped
std::mutex g_sync_mutex;                         // keeps synchronous lines whole

class WriterRef {
  public:
    WriterRef() {
        g_users.fetch_add(1);
        writer_ = g_writer.load();
    }
    ~WriterRef() { g_users.fetch_sub(1); }
    WriterRef(const WriterRef&) = delete;
    WriterRef& operator=(const WriterRef&) = delete;
    AsyncWriter* get() const { return writer_; }

  private:
    AsyncWriter* writer_;
};

void stop_writer_locked() {
    AsyncWriter* writer = g_writer.exchange(nullptr);
    if (writer == nullptr) return;
    while (g_users.load() != 0) std::this_thread::yield();
    std::uint64_t dropped = writer->pool->overrun_counter();
    // Destroying the pool posts a terminate message behind every queued line and joins the thread,
    // so every accepted line is written first. Queued messages hold the logger alive until then.
    writer->logger.reset();
    writer->pool.reset();
    writer->sink->attach(nullptr);
    writer->sink->flush();
    g_dropped_before.fetch_add(dropped);
    delete writer;
}

// The ECS version whose field definitions the lines follow (checked by tests/tools/ecs_check.py).
constexpr std::string_view kEcsVersion = "9.4.0";

constexpr std::array<std::string_view, 10> kReservedNames{
    "@timestamp",      "log.level",     "message",  "ecs.version", "service.name",
    "service.version", "event.dataset", "trace.id", "span.id",     "process.pid"};

// A field is secret when its name contains, in any case, one of: authorization, cookie, password,
// passwd, secret, token, api_key, apikey, api-key, credential (see is_secret_name).

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// `text` starts with `lower_prefix` (lowercase ASCII), ignoring the case of `text`.
bool starts_with_ignoring_case(std::string_view text, std::string_view lower_prefix) {
    if (text.size() < lower_prefix.size()) return false;
    for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
        if (ascii_lower(text[i]) != lower_prefix[i]) return false;
    }
    return true;
}

// Bytes that cannot be copied into a JSON string as they are: control characters, the quote, the
// backslash, and every non-ASCII byte (validated as UTF-8 first).
constexpr std::array<bool, 256> kNeedsCare = [] {
    std::array<bool, 256> table{};
    for (int c = 0; c < 256; ++c)
        table[static_cast<std::size_t>(c)] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
    return table;
}();

void append_2digits(std::string& out, int v) {
    out += static_cast<char>('0' + v / 10);
    out += static_cast<char>('0' + v % 10);
}

// RFC 3339 UTC with milliseconds, e.g. 2024-05-01T12:34:56.789Z. The calendar part changes once a
// second, so each thread caches it.
void append_timestamp(std::string& out) {
    using namespace std::chrono;
    const std::int64_t ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    std::int64_t secs = ms / 1000;
    int milli = static_cast<int>(ms % 1000);
    if (milli < 0) {
        milli += 1000;
        secs -= 1;
    }
    thread_local std::int64_t cached_secs = INT64_MIN;
    thread_local std::string cached;
    if (secs != cached_secs) {
        std::time_t t = static_cast<std::time_t>(secs);
        std::tm tm{};
        ::gmtime_r(&t, &tm);
        cached.clear();
        const int year = tm.tm_year + 1900;
        append_2digits(cached, year / 100);
        append_2digits(cached, year % 100);
        cached += '-';
        append_2digits(cached, tm.tm_mon + 1);
        cached += '-';
        append_2digits(cached, tm.tm_mday);
        cached += 'T';
        append_2digits(cached, tm.tm_hour);
        cached += ':';
        append_2digits(cached, tm.tm_min);
        cached += ':';
        append_2digits(cached, tm.tm_sec);
        cached_secs = secs;
    }
    out += cached;
    out += '.';
    out += static_cast<char>('0' + milli / 100);
    append_2digits(out, milli % 100);
    out += 'Z';
}

void append_key(std::string& out, std::string_view key) {
    out += ",\"";
    append_json_escaped(out, key);
    out += "\":";
}

void append_string_field(std::string& out, std::string_view key, std::string_view value) {
    append_key(out, key);
    out += '"';
    append_json_escaped(out, value);
    out += '"';
}

template <std::size_t N>
void append_hex(std::string& out, const std::array<std::uint8_t, N>& bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += '"';
    for (std::uint8_t b : bytes) {
        out += kHex[b >> 4];
        out += kHex[b & 0x0F];
    }
    out += '"';
}

void append_int(std::string& out, std::int64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

void append_double(std::string& out, double v) {
    if (!std::isfinite(v)) {
        out += "null";
        return;
    }
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
    out.append(buf, end);
}

bool is_reserved_or_repeated(std::span<const Field> fields, std::size_t index) {
    const std::string_view name = fields[index].name;
    if (std::find(kReservedNames.begin(), kReservedNames.end(), name) != kReservedNames.end()) return true;
    for (std::size_t i = 0; i < index; ++i) {
        if (fields[i].name == name) return true;
    }
    return false;
}

void format_into(std::string& out, Level level, std::string_view message, std::span<const Field> fields,
                 const trace::TraceContext* trace, std::string_view dataset) {
    out += "{\"@timestamp\":\"";
    append_timestamp(out);
    out += '"';
    append_string_field(out, "log.level", to_string(level));
    append_string_field(out, "message", message);
    append_string_field(out, "ecs.version", kEcsVersion);
    append_string_field(out, "service.name", g_config.service_name);
    if (!g_config.service_version.empty()) {
        append_string_field(out, "service.version", g_config.service_version);
    }
    append_string_field(out, "event.dataset", dataset);
    if (trace != nullptr) {
        // The same lowercase hex as trace_id_hex()/span_id_hex(), without their allocations.
        append_key(out, "trace.id");
        append_hex(out, trace->trace_id);
        append_key(out, "span.id");
        append_hex(out, trace->span_id);
    }
    append_key(out, "process.pid");
    append_int(out, pid());

    for (std::size_t i = 0; i < fields.size(); ++i) {
        const Field& field = fields[i];
        if (field.name.empty() || is_reserved_or_repeated(fields, i)) continue;
        append_key(out, field.name);
        if (is_secret_name(field.name)) {
            out += "\"[REDACTED]\"";
            continue;
        }
        // ECS stores every value under `labels` as a keyword: numbers and booleans there are
        // written as strings, so that callers cannot break the mapping.
        const bool keyword_only =
            field.name.starts_with("labels.") || field.name.starts_with("container.labels.");
        std::visit(
            [&out, keyword_only](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, std::string_view>) {
                    out += '"';
                    append_json_escaped(out, v);
                    out += '"';
                    return;
                }
                if (keyword_only) out += '"';
                if constexpr (std::is_same_v<T, std::int64_t>) {
                    append_int(out, v);
                } else if constexpr (std::is_same_v<T, double>) {
                    append_double(out, v);
                } else if constexpr (std::is_same_v<T, bool>) {
                    out += v ? "true" : "false";
                }
                if (keyword_only) out += '"';
            },
            field.value);
    }
    out += '}';
}

spdlog::level::level_enum to_spdlog(Level level) {
    switch (level) {
        case Level::debug:
            return spdlog::level::debug;
        case Level::info:
            return spdlog::level::info;
        case Level::warn:
            return spdlog::level::warn;
        case Level::error:
            return spdlog::level::err;
    }
    return spdlog::level::info;
}

// Length of the well-formed UTF-8 sequence at `p` (Unicode Table 3-7), or the negated length of its
// maximal ill-formed subpart, which is replaced by one U+FFFD (Unicode's recommended practice).
int utf8_sequence(const unsigned char* p, std::size_t available) {
    const unsigned char lead = p[0];
    int length;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) lo = 0xA0;  // overlong
        if (lead == 0xED) hi = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) lo = 0x90;  // overlong
        if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
        return -1;  // a continuation byte, C0, C1 or F5..FF
    }
    for (int i = 1; i < length; ++i) {
        if (static_cast<std::size_t>(i) >= available) return -i;
        const unsigned char c = p[i];
        if (c < lo || c > hi) return -i;
        lo = 0x80;
        hi = 0xBF;
    }
    return length;
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned char c = p[i];
        if (!kNeedsCare[c]) {
            std::size_t j = i + 1;
            while (j < n && !kNeedsCare[p[j]]) ++j;
            out.append(text.data() + i, j - i);
            i = j;
            continue;
        }
        if (c < 0x80) {
            switch (c) {
                case '"':
                    out += "\\\"";
                    break;
                case '\\':
                    out += "\\\\";
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                case '\b':
                    out += "\\b";
                    break;
                case '\f':
                    out += "\\f";
                    break;
                default:
                    out += "\\u00";
                    out += kHex[c >> 4];
                    out += kHex[c & 0x0F];
            }
            ++i;
            continue;
        }
        const int length = utf8_sequence(p + i, n - i);
        if (length > 0) {
            out.append(text.data() + i, static_cast<std::size_t>(length));
            i += static_cast<std::size_t>(length);
        } else {
            out += "\xEF\xBF\xBD";
            i += static_cast<std::size_t>(-length);
        }
    }
}

bool is_secret_name(std::string_view name) {
    // One pass: only a position holding the first letter of a marker is compared further. This
    // runs for every field of every line, so it avoids lowercasing copies and repeated searches.
    for (std::size_t i = 0; i < name.size(); ++i) {
        const std::string_view rest = name.substr(i);
        switch (ascii_lower(name[i])) {
            case 'a':
                if (starts_with_ignoring_case(rest, "authorization") ||
                    starts_with_ignoring_case(rest, "api_key") || starts_with_ignoring_case(rest, "apikey") ||
                    starts_with_ignoring_case(rest, "api-key")) {
                    return true;
                }
                break;
            case 'c':
                if (starts_with_ignoring_case(rest, "cookie") ||
                    starts_with_ignoring_case(rest, "credential")) {
                    return true;
                }
                break;
            case 'p':
                if (starts_with_ignoring_case(rest, "password") ||
                    starts_with_ignoring_case(rest, "passwd")) {
                    return true;
                }
                break;
            case 's':
                if (starts_with_ignoring_case(rest, "secret")) return true;
                break;
            case 't':
                if (starts_with_ignoring_case(rest, "token")) return true;
                break;
            default:
                break;
        }
    }
    return false;
}

std::string_view to_string(Level level) {
    switch (level) {
        case Level::debug:
            return "debug";
        case Level::info:
            return "info";
        case Level::warn:
            return "warn";
        case Level::error:
            return "error";
    }
    return "info";
}

Level parse_level(std::string_view name) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), ascii_lower);
    if (lower == "debug" || lower == "trace") return Level::debug;
    if (lower == "info") return Level::info;
    if (lower == "warn" || lower == "warning") return Level::warn;
    if (lower == "error") return Level::error;
    throw std::invalid_argument("unknown log level '" + std::string(name) +
                                "' (expected debug, info, warn or error)");
}

void set_level(Level level) {
    g_min_level.store(level, std::memory_order_relaxed);
}

bool enabled(Level level) {
    return level >= g_min_level.load(std::memory_order_relaxed);
}

void init(const Options& options) {
    // A process that exits without calling flush() still writes the lines it queued.
    static std::once_flag at_exit;
    std::call_once(at_exit, [] { std::atexit([] { flush(); }); });
    std::lock_guard lock(g_lifecycle);
    stop_writer_locked();
    g_config.service_name = options.service_name;
    g_config.service_version = options.service_version;
    g_min_level.store(options.min_level);
    g_pid.store(::getpid());

    auto writer = std::make_unique<AsyncWriter>();
    writer->pool =
        std::make_shared<spdlog::details::thread_pool>(std::max<std::size_t>(options.queue_lines, 1), 1);
    writer->sink = std::make_shared<StdoutBatchSink>();
    writer->sink->attach(writer->pool.get());
    // overrun_oldest: a full queue drops its oldest line instead of blocking the request path.
    writer->logger = std::make_shared<spdlog::async_logger>("olympus", writer->sink, writer->pool,
                                                            spdlog::async_overflow_policy::overrun_oldest);
    writer->logger->set_pattern("%v");
    writer->logger->set_level(spdlog::level::trace);  // filtering is ours, before formatting
    g_writer.store(writer.release());
}

void flush() {
    std::lock_guard lock(g_lifecycle);
    stop_writer_locked();
}

std::uint64_t dropped_lines() {
    std::uint64_t total = g_dropped_before.load();
    WriterRef ref;
    if (AsyncWriter* writer = ref.get()) total += writer->pool->overrun_counter();
    return total;
}

void write(Level level, std::string_view message, std::span<const Field> fields,
           const trace::TraceContext* trace, std::string_view dataset) {
    if (!enabled(level)) return;
    thread_local std::string buffer;
    buffer.clear();
    format_into(buffer, level, message, fields, trace, dataset);
    {
        WriterRef ref;
        if (AsyncWriter* writer = ref.get()) {
            writer->logger->log(to_spdlog(level), spdlog::string_view_t(buffer.data(), buffer.size()));
        } else {
            buffer += '\n';
            std::lock_guard lock(g_sync_mutex);
            write_all(buffer.data(), buffer.size());
        }
    }
    // One huge line should not pin its memory to the thread forever.
    if (buffer.capacity() > 64 * 1024) std::string().swap(buffer);
}

void write(Level level, std::string_view message, std::initializer_list<Field> fields,
           const trace::TraceContext* trace, std::string_view dataset) {
    write(level, message, std::span<const Field>(fields.begin(), fields.size()), trace, dataset);
}

std::string format_line(Level level, std::string_view message, std::span<const Field> fields,
                        const trace::TraceContext* trace, std::string_view dataset) {
    std::string out;
    out.reserve(256);
    format_into(out, level, message, fields, trace, dataset);
    return out;
}

std::string format_line(Level level, std::string_view message, std::initializer_list<Field> fields,
                        const trace::TraceContext* trace, std::string_view dataset) {
    return format_line(level, message, std::span<const Field>(fields.begin(), fields.size()), trace, dataset);
}

}  // namespace olympus::log
