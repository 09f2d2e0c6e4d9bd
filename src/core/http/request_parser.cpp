#include "http/request_parser.hpp"

#include <string_view>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>

namespace olympus::http {

namespace beast = boost::beast;

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

void RequestParser::on_request_impl(beast::http::verb, string_view method, string_view target, int version,
                                    error_code&) {
    version_ = version;  // Beast passes 10 or 11 only
    request_.method_name.assign(method.data(), method.size());
    request_.method = method_from_string(request_.method_name);
    request_.target.assign(target.data(), target.size());
}

void RequestParser::on_field_impl(beast::http::field name, string_view name_string, string_view value,
                                  error_code& ec) {
    if (++fields_ > max_fields_) {
        fault_ = RequestFault::too_many_fields;
        ec = beast::http::error::header_limit;
        return;
    }
    std::string_view v(value.data(), value.size());
    switch (name) {
        case beast::http::field::transfer_encoding: {
            // Beast ignores codings other than a final "chunked", which would leave the body
            // unframed: a request smuggling vector. Only "chunked" alone is accepted.
            std::string_view coding = trim(v);
            if (version_ == 10) {
                fault_ = RequestFault::bad_framing;  // RFC 9112 §6.1
                ec = beast::http::error::bad_transfer_encoding;
                return;
            }
            if (!iequals(coding, "chunked")) {
                auto comma = coding.rfind(',');
                bool chunked_last =
                    comma != std::string_view::npos && iequals(trim(coding.substr(comma + 1)), "chunked");
                fault_ = chunked_last ? RequestFault::unsupported_coding : RequestFault::bad_framing;
                ec = beast::http::error::bad_transfer_encoding;
                return;
            }
            break;
        }
        case beast::http::field::host:
            ++hosts_;
            break;
        case beast::http::field::expect:
            expect_continue_ = iequals(trim(v), "100-continue");
            break;
        default:
            break;
    }
    request_.headers.add(std::string_view(name_string.data(), name_string.size()), v);
}

void RequestParser::on_header_impl(error_code& ec) {
    // RFC 9112 §3.2: an HTTP/1.1 request without exactly one Host is answered 400.
    if (version_ >= 11 ? hosts_ != 1 : hosts_ > 1) {
        fault_ = RequestFault::missing_host;
        ec = beast::http::error::bad_value;
        return;
    }
    request_.keep_alive = keep_alive();
}

void RequestParser::on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code&) {
    // The length was checked against the body limit before this point.
    if (content_length) request_.body.reserve(static_cast<std::size_t>(*content_length));
}

std::size_t RequestParser::on_body_impl(string_view body, error_code&) {
    request_.body.append(body.data(), body.size());
    return body.size();
}

std::size_t RequestParser::on_chunk_body_impl(std::uint64_t, string_view body, error_code&) {
    request_.body.append(body.data(), body.size());
    return body.size();
}

bool other_http_version(std::string_view start) {
    // method SP request-target SP "HTTP/" DIGIT "." DIGIT CRLF
    auto end = start.find("\r\n");
    if (end == std::string_view::npos || end < 12) return false;
    std::string_view line = start.substr(0, end);
    std::string_view version = line.substr(line.size() - 8);
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    auto space = line.find(' ');
    return version.starts_with("HTTP/") && digit(version[5]) && version[6] == '.' && digit(version[7]) &&
           line[line.size() - 9] == ' ' && space != std::string_view::npos && space + 1 < line.size() - 9;
}

void reset_request(Request& request) {
    request.method = Method::get;
    request.method_name.clear();
    request.target.clear();
    request.headers.clear();
    request.body.clear();
    request.keep_alive = true;
}

}  // namespace olympus::http
