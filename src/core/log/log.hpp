#pragma once

// Structured logging: one JSON object per line on stdout, Elastic Common Schema field names.
// Writing is asynchronous (a bounded queue drained by one thread) so that a slow stdout never
// blocks a request; when the queue is full the oldest lines are dropped and counted.
//
// Field names are emitted flat, as dotted keys ("http.request.method": "GET"): ECS allows it and
// Filebeat/Elasticsearch expand them into objects, and it keeps formatting a single pass over the
// fields. A line always starts with @timestamp, log.level, message, ecs.version, service.name,
// service.version (when set), event.dataset, trace.id and span.id (when a trace is given) and process.pid; a
// caller field that repeats one of these names, or an earlier caller field, is dropped, because Elasticsearch
// rejects documents with duplicate keys.

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace olympus::trace {
struct TraceContext;
}

namespace olympus::log {

enum class Level : std::uint8_t { debug, info, warn, error };

// One ECS field: a dotted name ("http.request.method") and a scalar value. Values of fields whose
// name marks a secret (authorization, cookie, password, token, secret, api_key …) are redacted.
// Non-finite doubles are written as null (JSON has no NaN).
struct Field {
    std::string_view name;
    std::variant<std::string_view, std::int64_t, double, bool> value;

    Field(std::string_view n, std::string_view v) : name(n), value(v) {}
    Field(std::string_view n, const char* v) : name(n), value(std::string_view(v)) {}
    Field(std::string_view n, const std::string& v) : name(n), value(std::string_view(v)) {}
    // Every integer type (sizes, counts, statuses); unsigned values above INT64_MAX saturate.
    template <std::integral T>
    requires(!std::same_as<T, bool>) Field(std::string_view n, T v) : name(n), value(to_int64(v)) {}
    Field(std::string_view n, double v) : name(n), value(v) {}
    Field(std::string_view n, bool v) : name(n), value(v) {}

  private:
    template <std::integral T>
    static std::int64_t to_int64(T v) {
        if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
            constexpr auto kMax = static_cast<T>(INT64_MAX);
            return v > kMax ? INT64_MAX : static_cast<std::int64_t>(v);
        } else {
            return static_cast<std::int64_t>(v);
        }
    }
};

struct Options {
    std::string service_name = "olympus";
    std::string service_version;
    Level min_level = Level::info;
    std::size_t queue_lines = 8192;
};

// Sets the service fields and level, and starts the writer thread; call once at start-up, before
// other threads log. Until then lines are written synchronously (with the default options).
// Calling it again restarts the writer with the new options.
void init(const Options& options);
// Writes every queued line and stops the writer thread (part of shutdown); later lines are
// written synchronously.
void flush();
// Lines dropped because the queue was full (oldest first), since the process started.
std::uint64_t dropped_lines();

Level parse_level(std::string_view name);  // throws std::invalid_argument on an unknown name
std::string_view to_string(Level level);   // "debug", "info", "warn", "error" (ECS log.level)
void set_level(Level level);
bool enabled(Level level);

// `event.dataset` distinguishes access lines ("access") from application lines ("app").
void write(Level level, std::string_view message, std::initializer_list<Field> fields = {},
           const trace::TraceContext* trace = nullptr, std::string_view dataset = "app");
// The same, for fields assembled at run time (e.g. optional fields of an access line).
void write(Level level, std::string_view message, std::span<const Field> fields,
           const trace::TraceContext* trace = nullptr, std::string_view dataset = "app");

inline void debug(std::string_view m, std::initializer_list<Field> f = {},
                  const trace::TraceContext* t = nullptr) {
    if (enabled(Level::debug)) write(Level::debug, m, f, t);
}
inline void info(std::string_view m, std::initializer_list<Field> f = {},
                 const trace::TraceContext* t = nullptr) {
    write(Level::info, m, f, t);
}
inline void warn(std::string_view m, std::initializer_list<Field> f = {},
                 const trace::TraceContext* t = nullptr) {
    write(Level::warn, m, f, t);
}
inline void error(std::string_view m, std::initializer_list<Field> f = {},
                  const trace::TraceContext* t = nullptr) {
    write(Level::error, m, f, t);
}

// The JSON line write() would emit, without the trailing newline; exposed for tests.
std::string format_line(Level level, std::string_view message, std::initializer_list<Field> fields,
                        const trace::TraceContext* trace, std::string_view dataset);
std::string format_line(Level level, std::string_view message, std::span<const Field> fields,
                        const trace::TraceContext* trace, std::string_view dataset);

// Appends `text` as the contents of a JSON string (without quotes): quotes, backslashes and control
// characters escaped, valid UTF-8 passed through, each maximal invalid subsequence replaced by U+FFFD.
void append_json_escaped(std::string& out, std::string_view text);
// True when a field of that name carries a secret and its value must not be logged.
bool is_secret_name(std::string_view name);

}  // namespace olympus::log
