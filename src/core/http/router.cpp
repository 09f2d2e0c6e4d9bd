#include "http/router.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <stdexcept>

#include "log/log.hpp"
#include "problem.hpp"

namespace olympus::http {

namespace {

constexpr std::size_t kMethodCount = static_cast<std::size_t>(Method::other);
constexpr std::array<Method, kMethodCount> kAllMethods{
    Method::get, Method::head, Method::post, Method::put, Method::patch, Method::delete_, Method::options};

std::size_t index_of(Method m) {
    return static_cast<std::size_t>(m);
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decodes one path segment; nullopt on a malformed escape.
std::optional<std::string> decode_segment(std::string_view segment) {
    std::string out;
    out.reserve(segment.size());
    for (std::size_t i = 0; i < segment.size(); ++i) {
        if (segment[i] != '%') {
            out += segment[i];
            continue;
        }
        if (i + 2 >= segment.size()) return std::nullopt;
        int hi = hex_digit(segment[i + 1]);
        int lo = hex_digit(segment[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi << 4 | lo);
        i += 2;
    }
    return out;
}

// Splits "/a/b" into {"a", "b"}; nullopt when the path is not absolute or has an empty segment.
std::optional<std::vector<std::string_view>> split_path(std::string_view path) {
    if (path.empty() || path.front() != '/') return std::nullopt;
    std::vector<std::string_view> segments;
    if (path.size() == 1) return segments;
    std::size_t start = 1;
    while (true) {
        std::size_t slash = path.find('/', start);
        std::string_view segment =
            path.substr(start, slash == std::string_view::npos ? slash : slash - start);
        if (segment.empty()) return std::nullopt;
        segments.push_back(segment);
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return segments;
}

}  // namespace

std::string_view RequestContext::param(std::string_view name) const {
    for (const auto& [key, value] : params) {
        if (key == name) return value;
    }
    return {};
}

struct Router::Impl {
    struct Node {
        std::vector<std::pair<std::string, std::unique_ptr<Node>>> literals;
        std::unique_ptr<Node> param;
        std::string param_name;
        std::unique_ptr<Node> rest;  // "{name...}" catch-all; always a leaf
        std::string rest_name;
        std::array<std::unique_ptr<RouteTarget>, kMethodCount> targets;

        bool has_targets() const {
            for (const auto& t : targets) {
                if (t) return true;
            }
            return false;
        }
    };

    Node root;
    std::vector<std::shared_ptr<Middleware>> middleware;
    // chain[i] runs middleware i with chain[i + 1] as its next; the last entry is the route itself.
    std::vector<Handler> chain;

    const Node* find(std::string_view path,
                     std::vector<std::pair<std::string_view, std::string>>& params) const {
        auto segments = split_path(path);
        if (!segments) return nullptr;
        return find(root, *segments, 0, path, params);
    }

    const Node* find(const Node& node, const std::vector<std::string_view>& segments, std::size_t i,
                     std::string_view path,
                     std::vector<std::pair<std::string_view, std::string>>& params) const {
        if (i == segments.size()) return node.has_targets() ? &node : nullptr;
        for (const auto& [literal, child] : node.literals) {
            if (literal == segments[i]) {
                if (const Node* found = find(*child, segments, i + 1, path, params)) return found;
            }
        }
        if (node.param) {
            auto value = decode_segment(segments[i]);
            if (value) {
                params.emplace_back(node.param_name, std::move(*value));
                if (const Node* found = find(*node.param, segments, i + 1, path, params)) return found;
                params.pop_back();
            }
        }
        if (node.rest) {
            // The raw remainder of the path, kept encoded: it is usually forwarded, not interpreted.
            std::size_t offset = static_cast<std::size_t>(segments[i].data() - path.data());
            params.emplace_back(node.rest_name, std::string(path.substr(offset)));
            return node.rest.get();
        }
        return nullptr;
    }

    void rebuild_chain() {
        chain.assign(middleware.size() + 1, Handler{});
        chain.back() = [](RequestContext& ctx) -> boost::asio::awaitable<Response> {
            // Errors become responses here, inside the middleware, so that they are logged and counted.
            try {
                co_return co_await ctx.target->handler(ctx);
            } catch (const Problem& problem) {
                co_return problem.to_response();
            } catch (const std::exception& e) {
                log::error("unhandled exception while serving a request",
                           {{"error.message", std::string_view(e.what())}, {"url.path", ctx.request.path()}},
                           &ctx.trace);
                co_return Problem::internal().to_response();
            }
        };
        for (std::size_t i = middleware.size(); i-- > 0;) {
            chain[i] = [this, i](RequestContext& ctx) { return middleware[i]->handle(ctx, chain[i + 1]); };
        }
    }
};

Router::Router() : impl_(std::make_unique<Impl>()) {
    impl_->rebuild_chain();
}
Router::~Router() = default;

void Router::add(Method method, std::string_view path_template, Handler handler) {
    if (method == Method::other) throw std::invalid_argument("router: cannot route an unknown method");
    auto segments = split_path(path_template);
    if (!segments) throw std::invalid_argument("router: malformed template " + std::string(path_template));

    Impl::Node* node = &impl_->root;
    for (std::size_t i = 0; i < segments->size(); ++i) {
        std::string_view segment = (*segments)[i];
        bool is_param = segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
        if (!is_param) {
            if (segment.find_first_of("{}") != std::string_view::npos) {
                throw std::invalid_argument("router: malformed segment in " + std::string(path_template));
            }
            auto it = std::find_if(node->literals.begin(), node->literals.end(),
                                   [&](const auto& entry) { return entry.first == segment; });
            if (it == node->literals.end()) {
                node->literals.emplace_back(std::string(segment), std::make_unique<Impl::Node>());
                it = std::prev(node->literals.end());
            }
            node = it->second.get();
            continue;
        }
        std::string_view name = segment.substr(1, segment.size() - 2);
        bool is_rest = name.size() > 3 && name.ends_with("...");
        if (is_rest) {
            if (i + 1 != segments->size()) {
                throw std::invalid_argument("router: {name...} must be the last segment in " +
                                            std::string(path_template));
            }
            name.remove_suffix(3);
            if (node->rest && node->rest_name != name) {
                throw std::invalid_argument("router: conflicting parameter names in " +
                                            std::string(path_template));
            }
            if (!node->rest) node->rest = std::make_unique<Impl::Node>();
            node->rest_name = std::string(name);
            node = node->rest.get();
            continue;
        }
        if (node->param && node->param_name != name) {
            throw std::invalid_argument("router: conflicting parameter names in " +
                                        std::string(path_template));
        }
        if (!node->param) node->param = std::make_unique<Impl::Node>();
        node->param_name = std::string(name);
        node = node->param.get();
    }

    auto& target = node->targets[index_of(method)];
    if (target) {
        throw std::invalid_argument("router: duplicate route " + std::string(to_string(method)) + " " +
                                    std::string(path_template));
    }
    target = std::make_unique<RouteTarget>(RouteTarget{std::move(handler), std::string(path_template)});
}

void Router::use(std::shared_ptr<Middleware> middleware) {
    impl_->middleware.push_back(std::move(middleware));
    impl_->rebuild_chain();
}

Router::Match Router::match(Method method, std::string_view path) const {
    Match result;
    const Impl::Node* node = impl_->find(path, result.params);
    if (!node) {
        result.params.clear();
        return result;
    }
    const auto& targets = node->targets;
    const RouteTarget* target = method == Method::other ? nullptr : targets[index_of(method)].get();
    // HEAD is GET without the body (RFC 9110 §9.3.2).
    if (!target && method == Method::head) target = targets[index_of(Method::get)].get();
    if (target) {
        result.target = target;
        result.route = target->route;
        return result;
    }
    // The path exists, but not for this method: tell which methods it has.
    for (Method m : kAllMethods) {
        bool present = targets[index_of(m)] != nullptr ||
                       (m == Method::head && targets[index_of(Method::get)]) || m == Method::options;
        if (!present) continue;
        if (!result.allow.empty()) result.allow += ", ";
        result.allow += to_string(m);
    }
    // Any target of the node names the route, so metrics label 405s by template, not by raw path.
    for (const auto& t : targets) {
        if (t) {
            result.route = t->route;
            break;
        }
    }
    return result;
}

boost::asio::awaitable<Response> Router::dispatch(RequestContext& ctx) const {
    // Terminal steps for requests that match no handler; they still pass through the middleware so
    // that they are logged and counted.
    static const RouteTarget kNotImplemented{
        [](RequestContext& c) -> boost::asio::awaitable<Response> {
            co_return Problem(501, "Not Implemented", "method " + c.request.method_name + " is not supported")
                .to_response();
        },
        ""};
    static const RouteTarget kNotFound{
        [](RequestContext&) -> boost::asio::awaitable<Response> {
            co_return Problem::not_found("no resource at this path").to_response();
        },
        ""};

    Match found = match(ctx.request.method, ctx.request.path());
    ctx.route = found.route;
    ctx.params = std::move(found.params);

    RouteTarget fallback;
    if (found.target) {
        ctx.target = found.target;
    } else if (ctx.request.method == Method::other) {
        ctx.target = &kNotImplemented;
    } else if (found.allow.empty()) {
        ctx.target = &kNotFound;
    } else if (ctx.request.method == Method::options) {
        fallback.handler = [allow = found.allow](RequestContext&) -> boost::asio::awaitable<Response> {
            Response r = Response::empty(204);
            r.headers.set("Allow", allow);
            co_return r;
        };
        ctx.target = &fallback;
    } else {
        fallback.handler = [allow = found.allow](RequestContext& c) -> boost::asio::awaitable<Response> {
            Response r =
                Problem::method_not_allowed("method " + c.request.method_name + " is not allowed here")
                    .to_response();
            r.headers.set("Allow", allow);
            co_return r;
        };
        ctx.target = &fallback;
    }

    Response response;
    try {
        response = co_await impl_->chain.front()(ctx);
    } catch (const Problem& problem) {
        response = problem.to_response();
    } catch (const std::exception& e) {
        log::error("unhandled exception in middleware", {{"error.message", std::string_view(e.what())}},
                   &ctx.trace);
        response = Problem::internal().to_response();
    }
    ctx.target = nullptr;
    co_return response;
}

}  // namespace olympus::http
