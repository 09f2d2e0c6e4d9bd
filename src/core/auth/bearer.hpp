#pragma once

// The router middleware that admits requests by OAuth 2.0 bearer token (RFC 6750) and scope:
//
//   auth::AccessRules rules;
//   rules.allow_anonymous("/livez").require(http::Method::get, "/v1/orders/{id}", {"orders:read"});
//   router.use(std::make_shared<auth::BearerAuth>(verifier, rules));
//
// Answers, as application/problem+json:
//   no credentials (or another scheme)  401, WWW-Authenticate: Bearer           (RFC 6750 §3.1)
//   a malformed Authorization field     400, Bearer error="invalid_request"
//   a token that does not verify        401, Bearer error="invalid_token", error_description="..."
//   a valid token lacking a scope       403, Bearer error="insufficient_scope", scope="..."
//   the issuer's keys unavailable       503 (the token may be fine; the client should retry)
// On success the handler finds the claims in ctx.claims and the principal in ctx.user_id.
// Requests that match no route (404, 405, automatic OPTIONS) pass through unauthenticated.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "auth/verifier.hpp"
#include "http/router.hpp"

namespace olympus::auth {

// What a route demands of its callers.
struct Access {
    bool anonymous = false;           // no token at all (probes, metrics, public documents)
    std::vector<std::string> scopes;  // every one is required; empty: any valid token
};

// A route's access, from its matched template and its method (HEAD is asked as GET).
using AccessPolicy = std::function<Access(std::string_view route, http::Method method)>;

// A table of routes and what they demand. A route without a rule needs a valid token and no
// particular scope: forgetting a rule never opens a route to anonymous callers.
class AccessRules {
  public:
    // Every method of `route` is open to anyone.
    AccessRules& allow_anonymous(std::string_view route);
    // `method` on `route` needs a token with all of `scopes`.
    AccessRules& require(http::Method method, std::string_view route, std::vector<std::string> scopes);

    Access operator()(std::string_view route, http::Method method) const;

  private:
    struct Entry {
        bool anonymous = false;
        std::map<http::Method, Access> by_method;
    };
    std::map<std::string, Entry, std::less<>> routes_;
};

// The credentials of an Authorization field value.
struct BearerCredentials {
    enum class Status {
        absent,     // no field, or another scheme (Basic, ...)
        malformed,  // the Bearer scheme without a single token68
        present,
    };
    Status status = Status::absent;
    std::string_view token;
};
BearerCredentials parse_bearer(std::optional<std::string_view> authorization);

class BearerAuth final : public http::Middleware {
  public:
    // `realm`, when not empty, is named in every challenge. Throws std::invalid_argument when the
    // verifier or the policy is missing.
    BearerAuth(std::shared_ptr<const TokenVerifier> verifier, AccessPolicy policy, std::string realm = {});

    // Never throws: every refusal is a problem response.
    boost::asio::awaitable<http::Response> handle(http::RequestContext& ctx,
                                                  const http::Handler& next) override;

  private:
    http::Response challenge(int status, std::string_view detail, std::string_view error,
                             std::string_view scope = {}) const;

    std::shared_ptr<const TokenVerifier> verifier_;
    AccessPolicy policy_;
    std::string realm_;
};

}  // namespace olympus::auth
