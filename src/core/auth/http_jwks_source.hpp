#pragma once

// The JWKS endpoint of an issuer, reached with the core HTTP client.

#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "auth/jwks.hpp"
#include "http/client.hpp"

namespace olympus::auth {

// Fetches the JWKS with the core HTTP client: GET on the URL, 200 with a JSON body expected.
class HttpJwksSource final : public JwksSource {
  public:
    // `url`: "https://zeus:8443/.well-known/jwks.json"; plain http only to loopback unless
    // `client.allow_plain_http`. The other client options (CA file, timeouts, retries) are used as
    // given, except that responses are capped at 1 MiB: a key set is a few KiB. Throws
    // std::invalid_argument for an unusable URL.
    explicit HttpJwksSource(std::string_view url, http::ClientOptions client = {});
    ~HttpJwksSource() override;

    boost::asio::awaitable<JwksDocument> fetch() override;
    std::string describe() const override { return url_; }

  private:
    std::string url_;
    std::string target_;  // path and query
    std::unique_ptr<http::Client> client_;
};

}  // namespace olympus::auth
