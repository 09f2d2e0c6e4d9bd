#pragma once

// Routes a request by method and path template ("/v1/users/{id}") to a handler, through a chain of
// middleware. The matched template, never the raw path, labels metrics and logs.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "http/message.hpp"
#include "trace/trace_context.hpp"

namespace olympus::auth {
struct Claims;  // auth/claims.hpp; only named here, so http does not depend on auth
}

namespace olympus::http {

// Everything a handler or middleware knows about the request being served.
struct RequestContext {
    explicit RequestContext(Request& r) : request(r) {}

    Request& request;
    std::vector<std::pair<std::string_view, std::string>> params;  // decoded path parameters
    std::string_view route;  // the matched template; empty when no route matched
    trace::TraceContext trace;
    std::string request_id;
    std::string user_id;  // set by an authentication middleware
    // The verified access token, set by auth::BearerAuth; null when the route is public.
    std::shared_ptr<const auth::Claims> claims;

    // The decoded path parameter of that name; "" when the template has none.
    std::string_view param(std::string_view name) const;

    // Set by Router::dispatch for the innermost step of the chain.
    const struct RouteTarget* target = nullptr;
};

using Handler = std::function<boost::asio::awaitable<Response>(RequestContext&)>;

// A middleware wraps everything after it: it may answer early or alter the response of `next`.
// Handlers may throw Problem; the router turns it into a response before any middleware sees it,
// so middleware always receives a Response from `next`. A middleware answers early by returning
// a response (e.g. a Problem's), not by throwing.
class Middleware {
  public:
    virtual ~Middleware() = default;
    virtual boost::asio::awaitable<Response> handle(RequestContext& ctx, const Handler& next) = 0;
};

// What a matched route leads to.
struct RouteTarget {
    Handler handler;
    std::string route;  // the template, e.g. "/v1/users/{id}"
};

class Router {
  public:
    Router();
    ~Router();
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;

    // Throws std::invalid_argument on a malformed template or a conflicting duplicate.
    void add(Method method, std::string_view path_template, Handler handler);
    void get(std::string_view t, Handler h) { add(Method::get, t, std::move(h)); }
    void post(std::string_view t, Handler h) { add(Method::post, t, std::move(h)); }
    void put(std::string_view t, Handler h) { add(Method::put, t, std::move(h)); }
    void patch(std::string_view t, Handler h) { add(Method::patch, t, std::move(h)); }
    void del(std::string_view t, Handler h) { add(Method::delete_, t, std::move(h)); }

    // Middleware runs in the order added, outermost first, around every request, matched or not.
    void use(std::shared_ptr<Middleware> middleware);

    // Templates: literal segments, "{name}" for one segment, and a final "{name...}" for the rest of
    // the path (at least one segment). Literal segments win over parameters.
    //
    // Finds the route, runs the chain and returns the response. Never throws: a Problem becomes its
    // response, any other exception a 500 problem. HEAD is served by the GET route without a body;
    // OPTIONS answers 204 with Allow; a known path with another method is 405 with Allow; an
    // unknown path is 404; an unknown method is 501.
    boost::asio::awaitable<Response> dispatch(RequestContext& ctx) const;

    struct Match {
        const RouteTarget* target = nullptr;
        std::string_view route;
        std::vector<std::pair<std::string_view, std::string>> params;
        std::string allow;  // methods of a path that matched without this method, e.g. "GET, HEAD"
    };
    // Route lookup only (no middleware); exposed for tests and the fuzz target.
    Match match(Method method, std::string_view path) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace olympus::http
