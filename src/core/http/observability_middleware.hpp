#pragma once

// Observability at the edge of every request, as the outermost middleware: the W3C trace context
// and the request id, the RED metrics per route template, and one ECS access-log line.
//
// Metrics (labels are bounded: the route is the matched template, or "unmatched", never the raw path):
//   http_server_requests_total{method,route,status}       counter
//   http_server_request_duration_seconds{method,route}    histogram, default latency buckets
//   http_server_active_requests                           gauge, requests inside the chain
// Access line (event.dataset "access"): http.request.method, url.path (never the query, which may
// carry tokens), http.response.status_code, event.duration (ns), client.ip, user_agent.original,
// http.request.id, user.id (when set), http.response.body.bytes, and trace.id/span.id. No header
// other than User-Agent is ever logged.

#include <memory>
#include <string>
#include <string_view>

#include "http/router.hpp"

namespace olympus::metrics {
class Registry;
}

namespace olympus::http {

class ObservabilityMiddleware final : public Middleware {
  public:
    // Registers the metrics above in `registry`, which must outlive the middleware.
    ObservabilityMiddleware(metrics::Registry& registry, bool access_log);
    ~ObservabilityMiddleware() override;
    ObservabilityMiddleware(const ObservabilityMiddleware&) = delete;
    ObservabilityMiddleware& operator=(const ObservabilityMiddleware&) = delete;

    // Sets ctx.trace (continuing the caller's traceparent/tracestate, or a new trace) and
    // ctx.request_id before `next`; adds X-Request-Id and traceparent (our span) to the response.
    boost::asio::awaitable<Response> handle(RequestContext& ctx, const Handler& next) override;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// True when a caller's X-Request-Id can be reused as is: 1 to 128 characters of [A-Za-z0-9._-]
// (anything else could forge log fields or smuggle markup into logs and headers).
bool is_valid_request_id(std::string_view id);
// A fresh request id: 32 random lowercase hex digits.
std::string generate_request_id();

}  // namespace olympus::http
