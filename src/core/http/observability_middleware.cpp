#include "http/observability_middleware.hpp"

#include <arpa/inet.h>
#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <netinet/in.h>
#include <random>
#include <shared_mutex>
#include <unordered_map>

#include "log/log.hpp"
#include "metrics/metrics.hpp"

namespace olympus::http {

namespace {

constexpr std::string_view kUnmatchedRoute = "unmatched";
// ECS indexes user_agent.original as a keyword with ignore_above 1024: longer is never searchable.
constexpr std::size_t kMaxUserAgentBytes = 1024;

// The method label: the known methods by name; any other as "_OTHER", so that a client inventing
// methods cannot create label values (OpenTelemetry's convention).
std::string_view method_label(Method method) {
    return method == Method::other ? "_OTHER" : to_string(method);
}

bool is_ip_address(const std::string& text) {
    in6_addr buf{};
    return ::inet_pton(AF_INET, text.c_str(), &buf) == 1 || ::inet_pton(AF_INET6, text.c_str(), &buf) == 1;
}

// W3C Trace Context §3.3.1: several tracestate fields form one list, in order.
std::string joined_tracestate(const Headers& headers) {
    std::string joined;
    for (const auto& field : headers) {
        if (!iequals(field.name, "tracestate")) continue;
        if (!joined.empty()) joined += ',';
        joined += field.value;
    }
    return joined;
}

// The cache key of the metric children for one (route, method, status).
struct SeriesKey {
    std::string route;
    Method method;
    int status;
};
struct SeriesKeyView {
    std::string_view route;
    Method method;
    int status;
};

struct SeriesHash {
    using is_transparent = void;
    std::size_t operator()(const SeriesKeyView& k) const {
        return std::hash<std::string_view>{}(k.route) ^ (static_cast<std::size_t>(k.status) << 8) ^
               static_cast<std::size_t>(k.method);
    }
    std::size_t operator()(const SeriesKey& k) const {
        return (*this)(SeriesKeyView{k.route, k.method, k.status});
    }
};

struct SeriesEq {
    using is_transparent = void;
    static SeriesKeyView view(const SeriesKey& k) { return {k.route, k.method, k.status}; }
    static SeriesKeyView view(const SeriesKeyView& k) { return k; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
        const SeriesKeyView x = view(a);
        const SeriesKeyView y = view(b);
        return x.route == y.route && x.method == y.method && x.status == y.status;
    }
};

struct Series {
    metrics::Counter* requests;
    metrics::Histogram* duration;
};

}  // namespace

bool is_valid_request_id(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::string generate_request_id() {
    // Uniqueness, not secrecy, is what a request id needs: a per-thread generator seeded once.
    thread_local std::mt19937_64 generator{[] {
        std::random_device device;
        std::seed_seq seed{device(), device(), device(), device()};
        return std::mt19937_64(seed);
    }()};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id(32, '0');
    for (std::size_t half = 0; half < 2; ++half) {
        std::uint64_t bits = generator();
        for (std::size_t i = 0; i < 16; ++i, bits >>= 4) id[half * 16 + i] = kHex[bits & 0x0F];
    }
    return id;
}

struct ObservabilityMiddleware::Impl {
    Impl(metrics::Registry& registry, bool log_access)
        : access_log(log_access),
          requests(registry.counter("http_server_requests_total", "HTTP requests served, by route template.",
                                    {"method", "route", "status"})),
          duration(registry.histogram("http_server_request_duration_seconds",
                                      "Time from request dispatch to response, by route template.",
                                      {"method", "route"})),
          active(registry.gauge("http_server_active_requests", "HTTP requests being served.").labels({})) {}

    // The children for this series, created on first sight and cached, so that the steady state
    // costs a shared lock and a hash lookup before the atomic updates.
    Series series(std::string_view route, Method method, int status) {
        const SeriesKeyView key{route, method, status};
        {
            std::shared_lock lock(mutex);
            if (auto it = cache.find(key); it != cache.end()) return it->second;
        }
        const std::string status_text = std::to_string(status);
        Series created{&requests.labels({method_label(method), route, status_text}),
                       &duration.labels({method_label(method), route})};
        std::unique_lock lock(mutex);
        cache.try_emplace(SeriesKey{std::string(route), method, status}, created);
        return created;
    }

    const bool access_log;
    metrics::Family<metrics::Counter>& requests;
    metrics::Family<metrics::Histogram>& duration;
    metrics::Gauge& active;

    std::shared_mutex mutex;
    std::unordered_map<SeriesKey, Series, SeriesHash, SeriesEq> cache;
};

ObservabilityMiddleware::ObservabilityMiddleware(metrics::Registry& registry, bool access_log)
    : impl_(std::make_unique<Impl>(registry, access_log)) {}

ObservabilityMiddleware::~ObservabilityMiddleware() = default;

namespace {

// Keeps http_server_active_requests right even if the chain throws.
class ActiveGuard {
  public:
    explicit ActiveGuard(metrics::Gauge& gauge) : gauge_(gauge) { gauge_.add(1); }
    ~ActiveGuard() { gauge_.sub(1); }
    ActiveGuard(const ActiveGuard&) = delete;
    ActiveGuard& operator=(const ActiveGuard&) = delete;

  private:
    metrics::Gauge& gauge_;
};

}  // namespace

boost::asio::awaitable<Response> ObservabilityMiddleware::handle(RequestContext& ctx, const Handler& next) {
    const auto start = std::chrono::steady_clock::now();
    const Headers& headers = ctx.request.headers;

    if (auto traceparent = headers.get("traceparent")) {
        ctx.trace = trace::TraceContext::continue_from(*traceparent, joined_tracestate(headers));
    } else {
        ctx.trace = trace::TraceContext::start();
    }
    auto incoming_id = headers.get("x-request-id");
    ctx.request_id =
        incoming_id && is_valid_request_id(*incoming_id) ? std::string(*incoming_id) : generate_request_id();

    Response response;
    {
        ActiveGuard active(impl_->active);
        response = co_await next(ctx);
    }

    const auto elapsed = std::chrono::steady_clock::now() - start;
    response.headers.set("X-Request-Id", ctx.request_id);
    response.headers.set("traceparent", ctx.trace.traceparent());

    const std::string_view route = ctx.route.empty() ? kUnmatchedRoute : ctx.route;
    const Series series = impl_->series(route, ctx.request.method, response.status);
    series.requests->inc();
    series.duration->observe(std::chrono::duration<double>(elapsed).count());

    if (impl_->access_log && log::enabled(log::Level::info)) {
        const std::string_view method =
            ctx.request.method_name.empty() ? to_string(ctx.request.method) : ctx.request.method_name;
        const std::string_view path = ctx.request.path();
        const std::int64_t duration_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();

        // Optional fields fill the slots after the fixed ones; unused slots are not passed on.
        std::array<log::Field, 9> fields{
            log::Field{"http.request.method", method},
            log::Field{"url.path", path},
            log::Field{"http.response.status_code", response.status},
            log::Field{"event.duration", duration_ns},
            log::Field{"http.request.id", ctx.request_id},
            log::Field{"http.response.body.bytes", response.body.size()},
            log::Field{"", ""},
            log::Field{"", ""},
            log::Field{"", ""},
        };
        std::size_t count = 6;
        if (!ctx.request.remote_ip.empty() && is_ip_address(ctx.request.remote_ip)) {
            fields[count++] = log::Field{"client.ip", ctx.request.remote_ip};
        }
        if (auto agent = headers.get("user-agent")) {
            fields[count++] = log::Field{"user_agent.original", agent->substr(0, kMaxUserAgentBytes)};
        }
        if (!ctx.user_id.empty()) fields[count++] = log::Field{"user.id", ctx.user_id};

        // "GET /v1/users/42 200": the line as a person scanning the log reads it.
        std::string message;
        message.reserve(method.size() + path.size() + 6);
        message.append(method).append(" ").append(path).append(" ").append(std::to_string(response.status));
        log::write(log::Level::info, message, std::span<const log::Field>(fields.data(), count), &ctx.trace,
                   "access");
    }
    co_return response;
}

}  // namespace olympus::http
