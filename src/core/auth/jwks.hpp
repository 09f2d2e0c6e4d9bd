#pragma once

// The client of an issuer's JWKS endpoint (RFC 7517 §5, RFC 8414 jwks_uri): keeps the current key
// set in memory and refetches it
//   - when a token names an unknown `kid` (the issuer rotated its keys), at most once per
//     `refetch_interval`, so that tokens with made-up kids cannot turn into a flood of requests;
//   - in the background when the set is older than the issuer's Cache-Control max-age (bounded),
//     while requests go on being verified with the keys in hand.
// A failed fetch (issuer down, bad answer) is logged and the keys in hand are kept: a brief outage
// of the issuer does not take every service down with it. One fetch at a time: callers that need
// its result wait for it instead of starting their own.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "auth/jwk.hpp"
#include "auth/verifier.hpp"

namespace olympus::auth {

struct JwksDocument {
    std::string body;
    std::optional<std::chrono::seconds> max_age;  // from Cache-Control, when the answer had one
};

// Where a JWKS document comes from; throws when it cannot be had. HttpJwksSource
// (http_jwks_source.hpp) fetches it over HTTPS.
class JwksSource {
  public:
    virtual ~JwksSource() = default;
    virtual boost::asio::awaitable<JwksDocument> fetch() = 0;
    virtual std::string describe() const = 0;  // for logs, e.g. the URL
};

struct JwksOptions {
    // An unknown kid triggers at most one fetch per interval; so does a stale key set.
    std::chrono::seconds refetch_interval{30};
    // Until a first key set has been had, fetches may be retried this often: at start-up every
    // request depends on it.
    std::chrono::seconds initial_retry_interval{1};
    // How long a key set stays fresh when the issuer sends no Cache-Control max-age.
    std::chrono::seconds default_max_age{300};
    // Bounds on the issuer's max-age: the floor stops "max-age=0" from meaning a fetch per request
    // window, the ceiling bounds how long a withdrawn (compromised) key is still trusted.
    std::chrono::seconds min_max_age{30};
    std::chrono::seconds max_max_age{3600};
    // Time for freshness and rate limits; tests replace it.
    std::function<std::chrono::steady_clock::time_point()> clock;
};

class JwksClient final : public KeyProvider {
  public:
    explicit JwksClient(std::shared_ptr<JwksSource> source, JwksOptions options = {});
    ~JwksClient() override;
    JwksClient(const JwksClient&) = delete;
    JwksClient& operator=(const JwksClient&) = delete;

    // See KeyProvider. Must be awaited on an io_context executor (the fetch runs there).
    boost::asio::awaitable<std::shared_ptr<const KeySet>> keys(std::string kid) override;

    // Fetches now, whatever the rate limit (or waits for the fetch in flight); true when a key set
    // was installed. For warming up at start-up.
    boost::asio::awaitable<bool> refresh();

    // The keys in hand; null before the first successful fetch.
    std::shared_ptr<const KeySet> current() const;
    std::uint64_t fetch_attempts() const;
    std::uint64_t fetch_failures() const;

  private:
    struct State;
    std::shared_ptr<State> state_;  // shared with fetches still running in the background
};

// The max-age of a Cache-Control field value (RFC 9111 §5.2.2.1), 0 for no-store or no-cache;
// nothing when it sets neither.
std::optional<std::chrono::seconds> cache_control_max_age(std::string_view value);

}  // namespace olympus::auth
