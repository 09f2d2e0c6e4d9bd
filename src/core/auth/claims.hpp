#pragma once

// What a verified access token says (RFC 9068 §2.2): who, for which client, with which scopes,
// until when. Handlers reach it through RequestContext::claims once BearerAuth has let the request
// in, and check scopes with has_scopes.

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace olympus::auth {

struct Claims {
    std::string issuer;
    std::string subject;              // "sub": the end user, or the client itself for client credentials
    std::string client_id;            // "client_id": the OAuth client the token was issued to
    std::string token_id;             // "jti", empty when absent
    std::vector<std::string> scopes;  // "scope", split on spaces
    std::chrono::sys_seconds expires_at{};
    std::optional<std::chrono::sys_seconds> not_before;
    std::optional<std::chrono::sys_seconds> issued_at;
    boost::json::object payload;  // every claim as sent, for service-specific ones

    // The acting principal: the subject, or the client when the token names no subject.
    const std::string& principal() const { return subject.empty() ? client_id : subject; }
    bool has_scope(std::string_view scope) const;
};

// True when the token carries every one of `required` (an empty list is always satisfied).
bool has_scopes(const Claims& claims, std::initializer_list<std::string_view> required);
bool has_scopes(const Claims& claims, const std::vector<std::string>& required);

// Splits an RFC 6749 §3.3 scope string on spaces, dropping empty items.
std::vector<std::string> split_scopes(std::string_view scope);

}  // namespace olympus::auth
