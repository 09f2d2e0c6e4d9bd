#include "auth/http_jwks_source.hpp"

#include <algorithm>
#include <stdexcept>

#include <boost/url/parse.hpp>

namespace olympus::auth {
namespace {

// A key set is a few KiB; anything much larger is not one.
constexpr std::size_t kMaxJwksBytes = std::size_t{1024} * 1024;

}  // namespace

HttpJwksSource::HttpJwksSource(std::string_view url, http::ClientOptions client) : url_(url) {
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed) throw std::invalid_argument("jwks: '" + url_ + "' is not an absolute URL");
    if (parsed->has_fragment() || parsed->has_userinfo()) {
        throw std::invalid_argument("jwks: '" + url_ + "' must have no fragment nor credentials");
    }
    client.base_url = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_authority());
    client.max_response_bytes = std::min(client.max_response_bytes, kMaxJwksBytes);
    target_ = parsed->encoded_path().empty() ? "/" : std::string(parsed->encoded_path());
    if (parsed->has_query()) target_ += "?" + std::string(parsed->encoded_query());
    client_ = std::make_unique<http::Client>(std::move(client));
}

HttpJwksSource::~HttpJwksSource() = default;

boost::asio::awaitable<JwksDocument> HttpJwksSource::fetch() {
    http::Request request;
    request.method = http::Method::get;
    request.method_name = "GET";
    request.target = target_;
    request.headers.set("Accept", "application/jwk-set+json, application/json");
    http::Response response = co_await client_->send(std::move(request));
    if (response.status != 200) throw std::runtime_error("HTTP status " + std::to_string(response.status));
    JwksDocument document{std::move(response.body), std::nullopt};
    if (auto cache_control = response.headers.get("Cache-Control")) {
        document.max_age = cache_control_max_age(*cache_control);
    }
    co_return document;
}

}  // namespace olympus::auth
