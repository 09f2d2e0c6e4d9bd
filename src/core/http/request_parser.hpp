#pragma once

// The server's request parser: Beast's HTTP/1.1 parser, writing straight into an
// olympus::http::Request instead of a beast::http::message, so that no header field is stored
// twice. It adds the checks Beast leaves to its user: a limit on the number of header fields,
// Transfer-Encoding other than exactly "chunked", Host present in HTTP/1.1.
// Internal to the server (includes Beast).

#include <cstddef>
#include <cstdint>

#include <boost/beast/http/basic_parser.hpp>

#include "http/message.hpp"

namespace olympus::http {

// Why a request was refused, beyond what Beast's error code says.
enum class RequestFault : std::uint8_t {
    none,
    too_many_fields,     // 431
    unsupported_coding,  // 501: a transfer coding other than chunked
    bad_framing,         // 400: chunked not last, or Transfer-Encoding on HTTP/1.0
    missing_host,        // 400: RFC 9112 §3.2
};

class RequestParser final : public boost::beast::http::basic_parser<true> {
  public:
    // `request` must be empty (see reset_request); it is filled as the message is parsed.
    RequestParser(Request& request, std::size_t max_fields) : request_(request), max_fields_(max_fields) {}

    RequestFault fault() const { return fault_; }
    bool expects_continue() const { return expect_continue_; }
    int version() const { return version_; }

  private:
    using error_code = boost::beast::error_code;
    using string_view = boost::beast::string_view;

    void on_request_impl(boost::beast::http::verb, string_view method, string_view target, int version,
                         error_code& ec) override;
    void on_response_impl(int, string_view, int, error_code&) override {}
    void on_field_impl(boost::beast::http::field name, string_view name_string, string_view value,
                       error_code& ec) override;
    void on_header_impl(error_code& ec) override;
    void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code& ec) override;
    std::size_t on_body_impl(string_view body, error_code& ec) override;
    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t remain, string_view body, error_code& ec) override;
    void on_finish_impl(error_code&) override {}

    Request& request_;
    std::size_t max_fields_;
    std::size_t fields_ = 0;
    int version_ = 11;
    int hosts_ = 0;
    bool expect_continue_ = false;
    RequestFault fault_ = RequestFault::none;
};

// Empties `request` for the next message on the same connection, keeping its buffers.
void reset_request(Request& request);

// Whether `start` (the bytes of a request that Beast refused with bad_version) begins with a
// well-formed request line of another HTTP version, "HTTP/2.0" say: that is a 505, not a 400.
bool other_http_version(std::string_view start);

}  // namespace olympus::http
