#include "http/client.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <deque>
#include <mutex>
#include <random>
#include <stdexcept>
#include <sys/socket.h>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "trace/trace_context.hpp"

namespace olympus::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Where requests go, taken apart once from base_url.
struct Upstream {
    bool tls = false;
    std::string host;  // name or address, IPv6 without brackets
    std::uint16_t port = 0;
    std::optional<asio::ip::address> address;  // set when host is an IP literal
    std::string host_header;                   // host[:port] as the Host field carries it
    std::string path_prefix;                   // without a trailing slash
};

Upstream parse_upstream(const std::string& base_url) {
    auto bad = [&](std::string_view why) {
        return std::invalid_argument("http client: base_url '" + base_url + "': " + std::string(why));
    };
    const auto parsed = boost::urls::parse_absolute_uri(base_url);
    if (!parsed) throw bad("not an absolute URL");
    const auto& url = *parsed;

    Upstream upstream;
    if (url.scheme_id() == boost::urls::scheme::https) {
        upstream.tls = true;
    } else if (url.scheme_id() != boost::urls::scheme::http) {
        throw bad("scheme must be http or https");
    }
    if (url.has_userinfo()) throw bad("credentials do not belong in the URL");
    if (url.has_query() || url.has_fragment()) throw bad("a query or fragment is not allowed");
    switch (url.host_type()) {
        case boost::urls::host_type::ipv4:
        case boost::urls::host_type::ipv6:
            upstream.host = url.host_address();
            upstream.address = asio::ip::make_address(upstream.host);
            break;
        case boost::urls::host_type::name:
            upstream.host = url.host_name();
            std::transform(upstream.host.begin(), upstream.host.end(), upstream.host.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            break;
        default:
            throw bad("a host is required");
    }
    if (upstream.host.empty()) throw bad("a host is required");

    const std::uint16_t default_port = upstream.tls ? 443 : 80;
    std::uint16_t port = default_port;
    if (url.has_port() && !url.port().empty()) {
        port = url.port_number();
        if (port == 0) throw bad("invalid port");
    }
    upstream.port = port;
    upstream.host_header = std::string(url.encoded_host());
    if (port != default_port) upstream.host_header += ":" + std::to_string(port);

    upstream.path_prefix = std::string(url.encoded_path());
    while (!upstream.path_prefix.empty() && upstream.path_prefix.back() == '/')
        upstream.path_prefix.pop_back();
    return upstream;
}

bool is_loopback(const Upstream& upstream) {
    if (upstream.address) return upstream.address->is_loopback();
    return upstream.host == "localhost" || upstream.host.ends_with(".localhost");  // RFC 6761 §6.3
}

asio::ssl::context make_tls_context(const ClientOptions& options) {
    asio::ssl::context context(asio::ssl::context::tls_client);
    // TLS 1.0 and 1.1 are deprecated (RFC 8996).
    SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
    context.set_verify_mode(asio::ssl::verify_peer);

    boost::system::error_code ec;
    if (options.ca_file) {
        context.load_verify_file(*options.ca_file, ec);
        if (ec)
            throw std::invalid_argument("http client: ca_file '" + *options.ca_file + "': " + ec.message());
    } else {
        context.set_default_verify_paths(ec);
        if (ec) throw std::invalid_argument("http client: system CA store: " + ec.message());
    }
    if (options.client_certificate) {
        const auto& files = *options.client_certificate;
        context.use_certificate_chain_file(files.certificate_chain, ec);
        if (ec) {
            throw std::invalid_argument("http client: client_certificate chain '" + files.certificate_chain +
                                        "': " + ec.message());
        }
        context.use_private_key_file(files.private_key, asio::ssl::context::pem, ec);
        if (ec) {
            throw std::invalid_argument("http client: client_certificate key '" + files.private_key +
                                        "': " + ec.message());
        }
    }
    return context;
}

// One connection to the upstream, plain or TLS, with the bytes read past the last response.
struct Connection {
    explicit Connection(const asio::any_io_executor& executor) : plain(std::in_place, executor) {}
    Connection(const asio::any_io_executor& executor, asio::ssl::context& context)
        : tls(std::in_place, executor, context) {}

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    Clock::time_point idle_since;
};

// The idle connections opened on one io_context, most recently used last.
struct Pool {
    explicit Pool(const asio::execution_context* c) : context(c) {}

    const asio::execution_context* const context;
    std::mutex mutex;
    std::deque<std::unique_ptr<Connection>> idle;
    std::atomic<bool> closed = false;  // its io_context has shut down: nothing may be pooled any more
};

// One per io_context: empties the pools bound to it when the context shuts down, while their
// sockets can still be closed, so that a client may outlive the io_contexts it ran on.
class PoolService final : public asio::execution_context::service {
  public:
    static inline asio::execution_context::id id;

    explicit PoolService(asio::execution_context& context) : service(context) {}

    void watch(const std::shared_ptr<Pool>& pool) {
        std::lock_guard lock(mutex_);
        std::erase_if(pools_, [](const auto& entry) { return entry.expired(); });
        pools_.push_back(pool);
    }

  private:
    void shutdown() override {
        std::lock_guard lock(mutex_);
        for (const auto& entry : pools_) {
            if (const auto pool = entry.lock()) {
                std::lock_guard pool_lock(pool->mutex);
                pool->idle.clear();
                pool->closed = true;
            }
        }
        pools_.clear();
    }

    std::mutex mutex_;
    std::vector<std::weak_ptr<Pool>> pools_;
};

// Why an attempt failed, and whether another attempt may succeed without harm.
struct Failure {
    ClientError::Kind kind;
    // True when the upstream cannot have acted on the request: it was never connected to, or
    // it closed the connection without sending a single byte of a response.
    bool before_response;
    std::string detail;
};

struct Exchanged {
    Response response;
    bool keep_alive;
};

bool timed_out(const boost::system::error_code& ec) {
    return ec == beast::error::timeout || ec == asio::error::timed_out;
}

// A pooled connection the server has closed (or half-closed) in the meantime would fail the next
// request; a non-blocking peek finds most of them without sending anything. Any byte waiting is
// either the close or unsolicited data: the connection is not reused either way.
bool still_usable(Connection& connection) {
    if (connection.buffer.size() != 0) return false;
    auto& socket = connection.lowest().socket();
    if (!socket.is_open()) return false;
    if (connection.tls && SSL_pending(connection.tls->native_handle()) > 0) return false;
    char byte = 0;
    const auto received = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool is_idempotent(const Request& request) {
    switch (request.method) {
        case Method::get:
        case Method::head:
        case Method::put:
        case Method::delete_:
        case Method::options:
            return true;
        default:
            // The server deduplicates by key (DESIGN.md: creating POSTs accept Idempotency-Key).
            return request.headers.contains("Idempotency-Key");
    }
}

bool is_retryable_status(int status) {
    return status == 502 || status == 503 || status == 504;
}

// Hop-by-hop fields belong to one connection (RFC 9110 §7.6.1) and framing fields are ours to
// compute, so the caller's copies (e.g. those a gateway forwards) are not sent.
bool is_connection_field(std::string_view name) {
    for (std::string_view own : {"host", "connection", "keep-alive", "proxy-connection", "te", "trailer",
                                 "transfer-encoding", "upgrade", "content-length"}) {
        if (iequals(name, own)) return true;
    }
    return false;
}

bool is_token(std::string_view text) {
    if (text.empty()) return false;
    return std::all_of(text.begin(), text.end(), [](unsigned char c) {
        return std::isalnum(c) ||
               std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    });
}

// Beast writes field values as given: CR or LF in one would smuggle extra headers upstream.
bool is_field_value(std::string_view text) {
    return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bhttp::verb to_verb(Method method) {
    switch (method) {
        case Method::get:
            return bhttp::verb::get;
        case Method::head:
            return bhttp::verb::head;
        case Method::post:
            return bhttp::verb::post;
        case Method::put:
            return bhttp::verb::put;
        case Method::patch:
            return bhttp::verb::patch;
        case Method::delete_:
            return bhttp::verb::delete_;
        case Method::options:
            return bhttp::verb::options;
        case Method::other:
            break;
    }
    return bhttp::verb::unknown;
}

// Retry-After (RFC 9110 §10.2.3): delay-seconds or an IMF-fixdate.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value) {
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    if (std::isdigit(static_cast<unsigned char>(value.front()))) {
        std::uint64_t seconds = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
        if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
        constexpr std::uint64_t kDay = 24 * 3600;  // anything longer is "not soon" all the same
        return std::chrono::seconds(std::min(seconds, kDay));
    }
    std::tm date{};
    const std::string text(value);
    const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &date);
    if (end == nullptr || *end != '\0') return std::nullopt;
    const auto at = std::chrono::system_clock::from_time_t(timegm(&date));
    const auto delay =
        std::chrono::duration_cast<std::chrono::milliseconds>(at - std::chrono::system_clock::now());
    return std::max(delay, std::chrono::milliseconds(0));
}

std::chrono::milliseconds backoff_delay(const ClientOptions& options, unsigned retry) {
    const auto base = std::max<std::int64_t>(options.backoff_base.count(), 0);
    const auto max = std::max<std::int64_t>(options.backoff_max.count(), 0);
    std::int64_t cap = base;
    for (unsigned i = 1; i < retry && cap < max; ++i) cap *= 2;
    cap = std::min(cap, max);
    // Full jitter (uniform in [0, cap]) spreads the retries of many callers that failed together.
    thread_local std::mt19937_64 random{std::random_device{}()};
    return std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(0, cap)(random));
}

}  // namespace

// ---------------------------------------------------------------------------------------------

ClientError::ClientError(Kind kind, std::string detail)
    : Problem(kind == Kind::timeout ? 504 : 502,
              std::string(reason_phrase(kind == Kind::timeout ? 504 : 502)), detail),
      kind_(kind),
      message_("http client " + std::string(to_string(kind)) + ": " + detail) {}

std::string_view to_string(ClientError::Kind kind) {
    switch (kind) {
        case ClientError::Kind::invalid_request:
            return "invalid_request";
        case ClientError::Kind::connect:
            return "connect";
        case ClientError::Kind::tls:
            return "tls";
        case ClientError::Kind::timeout:
            return "timeout";
        case ClientError::Kind::protocol:
            return "protocol";
        case ClientError::Kind::too_large:
            return "too_large";
    }
    return "unknown";
}

namespace detail {

// Everything a client owns, shared with the requests in flight so they finish safely even when the
// Client object goes away first.
struct ClientState {
    explicit ClientState(ClientOptions o)
        : options(std::move(o)), upstream(parse_upstream(options.base_url)) {
        if (!upstream.tls && !options.allow_plain_http && !is_loopback(upstream)) {
            throw std::invalid_argument("http client: base_url '" + options.base_url +
                                        "': plain http leaves this host; use https (or allow_plain_http)");
        }
        if (!upstream.tls && (options.ca_file || options.client_certificate)) {
            throw std::invalid_argument("http client: base_url '" + options.base_url +
                                        "' is plain http but ca_file or client_certificate is set");
        }
        if (options.max_attempts == 0)
            throw std::invalid_argument("http client: max_attempts must be at least 1");
        if (upstream.tls) tls.emplace(make_tls_context(options));
        if (options.user_agent.empty()) options.user_agent = "olympus/" OLYMPUS_VERSION;
    }

    std::shared_ptr<Pool> pool_for(asio::execution_context& context) {
        std::lock_guard lock(pools_mutex);
        for (auto& pool : pools) {
            if (pool->context != &context) continue;
            if (!pool->closed) return pool;
            // That one belonged to a destroyed io_context whose address a new one now has.
            pool = std::make_shared<Pool>(&context);
            asio::use_service<PoolService>(context).watch(pool);
            return pool;
        }
        auto pool = std::make_shared<Pool>(&context);
        asio::use_service<PoolService>(context).watch(pool);
        pools.push_back(pool);
        return pool;
    }

    std::unique_ptr<Connection> take_idle(Pool& pool) {
        const auto now = Clock::now();
        std::lock_guard lock(pool.mutex);
        while (!pool.idle.empty()) {
            auto connection = std::move(pool.idle.back());
            pool.idle.pop_back();
            if (now - connection->idle_since < options.idle_keepalive && still_usable(*connection)) {
                return connection;
            }
        }
        return nullptr;
    }

    void release(Pool& pool, std::unique_ptr<Connection> connection) {
        const auto now = Clock::now();
        connection->lowest().expires_never();
        connection->idle_since = now;
        std::lock_guard lock(pool.mutex);
        if (pool.closed) return;
        // Expired connections are closed here and in take_idle rather than by a timer per pool.
        while (!pool.idle.empty() && now - pool.idle.front()->idle_since >= options.idle_keepalive) {
            pool.idle.pop_front();
        }
        if (pool.idle.size() < options.max_idle_connections) pool.idle.push_back(std::move(connection));
    }

    std::size_t idle_count() const {
        std::lock_guard lock(pools_mutex);
        std::size_t count = 0;
        for (const auto& pool : pools) {
            std::lock_guard pool_lock(pool->mutex);
            count += pool->idle.size();
        }
        return count;
    }

    ClientOptions options;
    const Upstream upstream;
    std::optional<asio::ssl::context> tls;
    mutable std::mutex pools_mutex;
    std::vector<std::shared_ptr<Pool>> pools;
};

}  // namespace detail

namespace {

using Endpoints = std::vector<tcp::endpoint>;

asio::awaitable<std::variant<Endpoints, Failure>> resolve(const detail::ClientState& state,
                                                          Clock::time_point deadline) {
    const auto& upstream = state.upstream;
    if (upstream.address) {
        co_return Endpoints{tcp::endpoint(*upstream.address, upstream.port)};
    }
    using namespace asio::experimental::awaitable_operators;
    const auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    asio::steady_timer timer(executor, deadline);
    // The resolver cannot interrupt getaddrinfo: on timeout this waits for it to return (bounded
    // by resolv.conf's own timeouts) before reporting.
    auto raced = co_await (resolver.async_resolve(upstream.host, std::to_string(upstream.port),
                                                  asio::ip::resolver_base::numeric_service, kTuple) ||
                           timer.async_wait(kTuple));
    if (raced.index() == 1)
        co_return Failure{ClientError::Kind::timeout, true, "resolving the host timed out"};
    auto [ec, results] = std::get<0>(std::move(raced));
    if (ec) co_return Failure{ClientError::Kind::connect, true, "resolving the host: " + ec.message()};
    Endpoints endpoints;
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    co_return endpoints;
}

asio::awaitable<std::variant<std::unique_ptr<Connection>, Failure>> connect(detail::ClientState& state) {
    const auto executor = co_await asio::this_coro::executor;
    const auto deadline = Clock::now() + state.options.connect_timeout;

    auto resolved = co_await resolve(state, deadline);
    if (auto* failure = std::get_if<Failure>(&resolved)) co_return std::move(*failure);
    const auto& endpoints = std::get<Endpoints>(resolved);

    auto connection = state.tls ? std::make_unique<Connection>(executor, *state.tls)
                                : std::make_unique<Connection>(executor);
    auto& stream = connection->lowest();
    stream.expires_at(deadline);
    auto [ec, endpoint] = co_await stream.async_connect(endpoints, kTuple);
    if (ec) {
        if (timed_out(ec)) co_return Failure{ClientError::Kind::timeout, true, "connect timed out"};
        co_return Failure{ClientError::Kind::connect, true, "connect: " + ec.message()};
    }
    boost::system::error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);  // requests are written whole

    if (connection->tls) {
        const auto& upstream = state.upstream;
        SSL* ssl = connection->tls->native_handle();
        // SNI carries host names only (RFC 6066 §3); an address is verified against the
        // certificate's IP SANs instead of its DNS names.
        bool configured = true;
        if (!upstream.address) {
            configured = SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                                  const_cast<char*>(upstream.host.c_str())) == 1;
        }
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        configured =
            configured && (upstream.address ? X509_VERIFY_PARAM_set1_ip_asc(param, upstream.host.c_str()) == 1
                                            : X509_VERIFY_PARAM_set1_host(param, upstream.host.c_str(),
                                                                          upstream.host.size()) == 1);
        if (!configured) co_return Failure{ClientError::Kind::tls, false, "cannot set the TLS peer name"};

        auto [handshake_ec] =
            co_await connection->tls->async_handshake(asio::ssl::stream_base::client, kTuple);
        if (handshake_ec) {
            if (timed_out(handshake_ec)) {
                co_return Failure{ClientError::Kind::timeout, true, "TLS handshake timed out"};
            }
            const long verify = SSL_get_verify_result(ssl);
            if (verify != X509_V_OK) {
                co_return Failure{
                    ClientError::Kind::tls, false,
                    std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify)};
            }
            if (handshake_ec.category() == asio::error::get_ssl_category()) {
                co_return Failure{ClientError::Kind::tls, false, "TLS handshake: " + handshake_ec.message()};
            }
            // A reset or truncation mid-handshake: the server is restarting or overloaded.
            co_return Failure{ClientError::Kind::connect, true, "TLS handshake: " + handshake_ec.message()};
        }
    }
    stream.expires_never();
    co_return std::move(connection);
}

template <class Stream>
asio::awaitable<std::variant<Exchanged, Failure>> exchange(const detail::ClientState& state, Stream& stream,
                                                           Connection& connection,
                                                           bhttp::request<bhttp::string_body>& request) {
    connection.lowest().expires_after(state.options.request_timeout);
    auto [write_ec, written] = co_await bhttp::async_write(stream, request, kTuple);
    if (write_ec) {
        if (timed_out(write_ec)) co_return Failure{ClientError::Kind::timeout, false, "request timed out"};
        co_return Failure{ClientError::Kind::connect, true, "sending the request: " + write_ec.message()};
    }

    bool interim_seen = false;
    for (;;) {
        bhttp::response_parser<bhttp::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(
            std::min<std::size_t>(state.options.max_response_header_bytes, UINT32_MAX)));
        parser.body_limit(state.options.max_response_bytes);
        if (request.method() == bhttp::verb::head) parser.skip(true);

        auto [read_ec, read] = co_await bhttp::async_read(stream, connection.buffer, parser, kTuple);
        if (read_ec) {
            if (timed_out(read_ec)) {
                co_return Failure{ClientError::Kind::timeout, false, "no response within request_timeout"};
            }
            if (read_ec == bhttp::error::body_limit) {
                co_return Failure{ClientError::Kind::too_large, false,
                                  "response body exceeds max_response_bytes"};
            }
            if (read_ec == bhttp::error::header_limit) {
                co_return Failure{ClientError::Kind::too_large, false,
                                  "response header exceeds max_response_header_bytes"};
            }
            if (!parser.got_some() && !interim_seen) {
                co_return Failure{ClientError::Kind::connect, true,
                                  "connection closed before a response: " + read_ec.message()};
            }
            co_return Failure{ClientError::Kind::protocol, false,
                              "reading the response: " + read_ec.message()};
        }
        auto& message = parser.get();
        const int status = static_cast<int>(message.result_int());
        // 1xx (e.g. 103 Early Hints) precede the final response; 101 would be an upgrade we never ask for.
        if (status >= 100 && status < 200 && status != 101) {
            interim_seen = true;
            continue;
        }
        if (status < 200) {
            co_return Failure{ClientError::Kind::protocol, false,
                              "unexpected status " + std::to_string(status)};
        }

        Exchanged result{{}, parser.keep_alive()};
        result.response.status = status;
        for (const auto& field : message) result.response.headers.add(field.name_string(), field.value());
        result.response.body = std::move(message.body());
        co_return result;
    }
}

struct AttemptResult {
    std::variant<Response, Failure> outcome;
    bool reused = false;  // the request went out on a pooled connection
};

asio::awaitable<AttemptResult> attempt(detail::ClientState& state, Pool& pool,
                                       bhttp::request<bhttp::string_body>& request, bool allow_pooled) {
    AttemptResult result{Response{}, false};
    std::unique_ptr<Connection> connection = allow_pooled ? state.take_idle(pool) : nullptr;
    result.reused = connection != nullptr;
    if (!connection) {
        auto connected = co_await connect(state);
        if (auto* failure = std::get_if<Failure>(&connected)) {
            result.outcome = std::move(*failure);
            co_return result;
        }
        connection = std::move(std::get<std::unique_ptr<Connection>>(connected));
    }

    std::variant<Exchanged, Failure> exchanged;
    if (connection->tls) {
        exchanged = co_await exchange(state, *connection->tls, *connection, request);
    } else {
        exchanged = co_await exchange(state, *connection->plain, *connection, request);
    }
    if (auto* failure = std::get_if<Failure>(&exchanged)) {
        result.outcome = std::move(*failure);  // the connection is closed as it goes out of scope
        co_return result;
    }
    auto& done = std::get<Exchanged>(exchanged);
    if (done.keep_alive) state.release(pool, std::move(connection));
    result.outcome = std::move(done.response);
    co_return result;
}

bhttp::request<bhttp::string_body> to_beast(const detail::ClientState& state, Request& request) {
    bhttp::request<bhttp::string_body> out;
    out.version(11);
    if (request.method == Method::other) {
        if (!is_token(request.method_name)) {
            throw ClientError(ClientError::Kind::invalid_request,
                              "invalid method '" + request.method_name + "'");
        }
        out.method_string(request.method_name);
    } else {
        out.method(to_verb(request.method));
    }

    std::string target = request.target.empty() ? std::string("/") : request.target;
    if (target.front() != '/' || target.find_first_of(" \t\r\n") != std::string::npos) {
        throw ClientError(ClientError::Kind::invalid_request, "request target must be origin-form");
    }
    out.target(state.upstream.path_prefix + target);

    out.set(bhttp::field::host, state.upstream.host_header);
    for (const auto& field : request.headers) {
        if (!is_token(field.name) || !is_field_value(field.value)) {
            throw ClientError(ClientError::Kind::invalid_request,
                              "invalid header field '" + field.name + "'");
        }
        if (!is_connection_field(field.name)) out.insert(field.name, field.value);
    }
    if (out.find(bhttp::field::user_agent) == out.end())
        out.set(bhttp::field::user_agent, state.options.user_agent);
    out.body() = std::move(request.body);
    out.prepare_payload();
    out.keep_alive(true);
    return out;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds delay) {
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<Response> run(std::shared_ptr<detail::ClientState> state, Request request,
                              std::optional<trace::TraceContext> trace) {
    const auto executor = co_await asio::this_coro::executor;
    const auto pool = state->pool_for(asio::query(executor, asio::execution::context));
    const bool idempotent = is_idempotent(request);
    auto message = to_beast(*state, request);
    const auto& options = state->options;

    bool fresh_retry_used = false;
    bool force_fresh = false;
    for (unsigned attempt_number = 1;;) {
        if (trace) {
            // Every attempt is a request of its own, so each gets its own span id.
            message.set("traceparent", trace->child().traceparent());
            if (!trace->tracestate.empty()) message.set("tracestate", trace->tracestate);
        }
        auto result = co_await attempt(*state, *pool, message, !force_fresh);
        force_fresh = false;
        const bool last = !idempotent || attempt_number >= options.max_attempts;

        if (auto* response = std::get_if<Response>(&result.outcome)) {
            if (last || !is_retryable_status(response->status)) co_return std::move(*response);
            auto delay = backoff_delay(options, attempt_number);
            if (response->status == 503) {
                if (auto header = response->headers.get("Retry-After")) {
                    if (auto asked = parse_retry_after(*header)) {
                        // The server will not be ready within our budget: its answer stands.
                        if (*asked > options.backoff_max) co_return std::move(*response);
                        delay = std::max(delay, *asked);
                    }
                }
            }
            co_await sleep_for(delay);
            ++attempt_number;
            continue;
        }

        auto& failure = std::get<Failure>(result.outcome);
        // A caller that cancelled (e.g. its own client went away) gets no retry.
        if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
            throw boost::system::system_error(asio::error::operation_aborted);
        }
        // A pooled connection the server dropped while idle is our artefact, not an upstream
        // failure: redo the attempt at once on a new connection (idempotent requests only, since
        // a non-idempotent one may have been acted on even when no response came back).
        if (result.reused && failure.before_response && idempotent && !fresh_retry_used) {
            fresh_retry_used = true;
            force_fresh = true;
            continue;
        }
        if (last || !failure.before_response) {
            if (attempt_number > 1)
                failure.detail += " (after " + std::to_string(attempt_number) + " attempts)";
            throw ClientError(failure.kind, std::move(failure.detail));
        }
        co_await sleep_for(backoff_delay(options, attempt_number));
        ++attempt_number;
    }
}

}  // namespace

Client::Client(ClientOptions options) : state_(std::make_shared<detail::ClientState>(std::move(options))) {}

Client::~Client() = default;

asio::awaitable<Response> Client::send(Request request, const trace::TraceContext* trace) {
    std::optional<trace::TraceContext> copy;
    if (trace != nullptr) copy = *trace;
    return run(state_, std::move(request), std::move(copy));
}

asio::awaitable<Response> Client::get(std::string target, const trace::TraceContext* trace) {
    Request request;
    request.method = Method::get;
    request.method_name = "GET";
    request.target = std::move(target);
    return send(std::move(request), trace);
}

asio::awaitable<Response> Client::post_json(std::string target, std::string body,
                                            const trace::TraceContext* trace) {
    Request request;
    request.method = Method::post;
    request.method_name = "POST";
    request.target = std::move(target);
    request.headers.set("Content-Type", "application/json");
    request.body = std::move(body);
    return send(std::move(request), trace);
}

const ClientOptions& Client::options() const {
    return state_->options;
}

std::size_t Client::idle_connections() const {
    return state_->idle_count();
}

}  // namespace olympus::http
