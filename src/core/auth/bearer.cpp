#include "auth/bearer.hpp"

#include <stdexcept>
#include <utility>

#include <boost/json/value.hpp>

#include "log/log.hpp"
#include "problem.hpp"

namespace olympus::auth {
namespace {

bool is_token68_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

// RFC 7235 token68: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool is_token68(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && is_token68_char(s[i])) ++i;
    if (i == 0) return false;
    while (i < s.size() && s[i] == '=') ++i;
    return i == s.size();
}

// The contents of a quoted-string carrying our own text: RFC 6750 §3 allows %x20-21 / %x23-5B /
// %x5D-7E in error_description and scope, so anything else is dropped rather than escaped.
std::string quoted(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c >= 0x20 && c <= 0x7e && c != '"' && c != '\\') out += c;
    }
    return out + "\"";
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += ' ';
        out += item;
    }
    return out;
}

}  // namespace

AccessRules& AccessRules::allow_anonymous(std::string_view route) {
    auto it = routes_.find(route);
    if (it == routes_.end()) it = routes_.emplace(std::string(route), Entry{}).first;
    it->second.anonymous = true;
    return *this;
}

AccessRules& AccessRules::require(http::Method method, std::string_view route,
                                  std::vector<std::string> scopes) {
    auto it = routes_.find(route);
    if (it == routes_.end()) it = routes_.emplace(std::string(route), Entry{}).first;
    it->second.by_method[method] = Access{false, std::move(scopes)};
    return *this;
}

Access AccessRules::operator()(std::string_view route, http::Method method) const {
    auto it = routes_.find(route);
    if (it == routes_.end()) return {};
    if (auto m = it->second.by_method.find(method); m != it->second.by_method.end()) return m->second;
    if (it->second.anonymous) return Access{true, {}};
    return {};
}

BearerCredentials parse_bearer(std::optional<std::string_view> authorization) {
    if (!authorization) return {};
    std::string_view value = *authorization;
    auto space = value.find(' ');
    if (!http::iequals(value.substr(0, space), "Bearer")) return {};
    if (space == std::string_view::npos) return {BearerCredentials::Status::malformed, {}};
    std::string_view token = value.substr(space + 1);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (!is_token68(token)) return {BearerCredentials::Status::malformed, {}};
    return {BearerCredentials::Status::present, token};
}

BearerAuth::BearerAuth(std::shared_ptr<const TokenVerifier> verifier, AccessPolicy policy, std::string realm)
    : verifier_(std::move(verifier)), policy_(std::move(policy)), realm_(std::move(realm)) {
    if (!verifier_) throw std::invalid_argument("bearer auth: no token verifier");
    if (!policy_) throw std::invalid_argument("bearer auth: no access policy");
}

http::Response BearerAuth::challenge(int status, std::string_view detail, std::string_view error,
                                     std::string_view scope) const {
    Problem problem(status, std::string(http::reason_phrase(status)), std::string(detail));
    std::string value = "Bearer";
    auto param = [&](std::string_view name, std::string_view text) {
        value += value == "Bearer" ? " " : ", ";
        value += name;
        value += '=';
        value += quoted(text);
    };
    if (!realm_.empty()) param("realm", realm_);
    if (!error.empty()) {
        param("error", error);
        if (!detail.empty() && error != "insufficient_scope") param("error_description", detail);
    }
    if (!scope.empty()) {
        param("scope", scope);
        problem.with("required_scope", boost::json::value(scope));
    }
    http::Response response = problem.to_response();
    response.headers.set("WWW-Authenticate", value);
    return response;
}

boost::asio::awaitable<http::Response> BearerAuth::handle(http::RequestContext& ctx,
                                                          const http::Handler& next) {
    // Unmatched requests carry no route to protect: the 404, 405 or automatic OPTIONS answer
    // tells nothing the published API description does not.
    if (!ctx.target || ctx.target->route.empty()) co_return co_await next(ctx);

    Access access;
    try {
        const auto method = ctx.request.method == http::Method::head ? http::Method::get : ctx.request.method;
        access = policy_(ctx.route, method);
    } catch (const std::exception& e) {
        log::error("bearer auth: access policy failed", {{"error.message", std::string_view(e.what())}},
                   &ctx.trace);
        co_return Problem::internal().to_response();
    }
    if (access.anonymous) co_return co_await next(ctx);

    // Two Authorization fields make the credentials ambiguous: which one an upstream proxy or
    // another service would use is anybody's guess.
    int fields = 0;
    for (const auto& field : ctx.request.headers)
        fields += http::iequals(field.name, "Authorization") ? 1 : 0;
    auto credentials = parse_bearer(ctx.request.headers.get("Authorization"));
    if (fields > 1) credentials.status = BearerCredentials::Status::malformed;

    switch (credentials.status) {
        case BearerCredentials::Status::absent:
            co_return challenge(401, "a bearer token is required", {});
        case BearerCredentials::Status::malformed:
            co_return challenge(400, "the Authorization field is not one Bearer token", "invalid_request");
        case BearerCredentials::Status::present:
            break;
    }

    std::shared_ptr<const Claims> claims;
    std::optional<http::Response> refusal;
    try {
        claims = co_await verifier_->verify(std::string(credentials.token));
    } catch (const TokenError& e) {
        log::debug("bearer auth: token refused",
                   {{"event.reason", to_string(e.kind())}, {"error.message", e.detail()}}, &ctx.trace);
        if (e.kind() == TokenError::Kind::keys_unavailable) {
            refusal = e.to_response();
        } else {
            refusal = challenge(401, e.detail(), "invalid_token");
        }
    } catch (const std::exception& e) {
        log::error("bearer auth: token verification failed", {{"error.message", std::string_view(e.what())}},
                   &ctx.trace);
        refusal = Problem::internal().to_response();
    }
    if (refusal) co_return std::move(*refusal);

    if (!has_scopes(*claims, access.scopes)) {
        co_return challenge(403, "the token lacks a scope this request needs", "insufficient_scope",
                            join(access.scopes));
    }
    ctx.user_id = claims->principal();
    ctx.claims = std::move(claims);
    co_return co_await next(ctx);
}

}  // namespace olympus::auth
