#pragma once

// Structured logging: one JSON object per line on stdout, Elastic Common Schema field names.
// Writing is asynchronous (a bounded queue drained by one thread) so that a slow stdout never
// blocks a request; when the queue is full the oldest lines are dropped and counted.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace olympus::trace {
struct TraceContext;
}

namespace olympus::log {

enum class Level : std::uint8_t { debug, info, warn, error };

// One ECS field: a dotted name ("http.request.method") and a scalar value. Values of fields whose
// name marks a secret (authorization, cookie, password, token, secret, api_key …) are redacted.
struct Field {
    std::string_view name;
    std::variant<std::string_view, std::int64_t, double, bool> value;

    Field(std::string_view n, std::string_view v) : name(n), value(v) {}
    Field(std::string_view n, const char* v) : name(n), value(std::string_view(v)) {}
    Field(std::string_view n, const std::string& v) : name(n), value(std::string_view(v)) {}
    Field(std::string_view n, std::int64_t v) : name(n), value(v) {}
    Field(std::string_view n, int v) : name(n), value(static_cast<std::int64_t>(v)) {}
    Field(std::string_view n, unsigned v) : name(n), value(static_cast<std::int64_t>(v)) {}
    Field(std::string_view n, double v) : name(n), value(v) {}
    Field(std::string_view n, bool v) : name(n), value(v) {}
};

struct Options {
    std::string service_name = "olympus";
    std::string service_version;
    Level min_level = Level::info;
    std::size_t queue_lines = 8192;
};

// Starts the writer thread; call once at start-up. Until then lines are written synchronously.
void init(const Options& options);
// Writes every queued line and stops the writer thread (part of shutdown).
void flush();
Level parse_level(std::string_view name);  // throws std::invalid_argument on an unknown name
bool enabled(Level level);

// `event.dataset` distinguishes access lines ("access") from application lines ("app").
void write(Level level, std::string_view message, std::initializer_list<Field> fields = {},
           const trace::TraceContext* trace = nullptr, std::string_view dataset = "app");

inline void debug(std::string_view m, std::initializer_list<Field> f = {}, const trace::TraceContext* t = nullptr) {
    if (enabled(Level::debug)) write(Level::debug, m, f, t);
}
inline void info(std::string_view m, std::initializer_list<Field> f = {}, const trace::TraceContext* t = nullptr) {
    write(Level::info, m, f, t);
}
inline void warn(std::string_view m, std::initializer_list<Field> f = {}, const trace::TraceContext* t = nullptr) {
    write(Level::warn, m, f, t);
}
inline void error(std::string_view m, std::initializer_list<Field> f = {}, const trace::TraceContext* t = nullptr) {
    write(Level::error, m, f, t);
}

// The JSON line write() would emit, without the trailing newline; exposed for tests.
std::string format_line(Level level, std::string_view message, std::initializer_list<Field> fields,
                        const trace::TraceContext* trace, std::string_view dataset);

}  // namespace olympus::log
