#include "http/message.hpp"

#include <algorithm>
#include <array>

#include <boost/url/decode_view.hpp>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/parse_query.hpp>

namespace olympus::http {

namespace {
constexpr std::array<std::pair<Method, std::string_view>, 7> kMethodNames{{
    {Method::get, "GET"},
    {Method::head, "HEAD"},
    {Method::post, "POST"},
    {Method::put, "PUT"},
    {Method::patch, "PATCH"},
    {Method::delete_, "DELETE"},
    {Method::options, "OPTIONS"},
}};

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
}  // namespace

std::string_view to_string(Method method) {
    for (const auto& [m, name] : kMethodNames) {
        if (m == method) return name;
    }
    return "OTHER";
}

Method method_from_string(std::string_view name) {
    // Method names are case-sensitive (RFC 9110 §9.1).
    for (const auto& [m, known] : kMethodNames) {
        if (known == name) return m;
    }
    return Method::other;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
    for (const auto& field : fields_) {
        if (iequals(field.name, name)) return std::string_view(field.value);
    }
    return std::nullopt;
}

void Headers::set(std::string_view name, std::string_view value) {
    erase(name);
    add(name, value);
}

void Headers::add(std::string_view name, std::string_view value) {
    fields_.push_back(Field{std::string(name), std::string(value)});
}

void Headers::erase(std::string_view name) {
    std::erase_if(fields_, [&](const Field& f) { return iequals(f.name, name); });
}

std::string_view Request::path() const {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
}

std::string_view Request::query() const {
    std::string_view t = target;
    auto q = t.find('?');
    return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

std::optional<std::string> Request::query_param(std::string_view name) const {
    std::string_view q = query();
    // An absent query is a null view, which Boost.URL 1.81 would hand to strlen.
    if (q.empty()) return std::nullopt;
    auto params = boost::urls::parse_query(q);
    if (!params) return std::nullopt;
    // Query strings are form-encoded: '+' is a space and %XX an octet (WHATWG URL, HTML forms).
    boost::urls::encoding_opts form;
    form.space_as_plus = true;
    auto decode = [&form](boost::urls::pct_string_view text) {
        boost::urls::decode_view view(text, form);
        return std::string(view.begin(), view.end());
    };
    for (auto param : *params) {
        if (decode(param.key) != name) continue;
        return param.has_value ? decode(param.value) : std::string{};
    }
    return std::nullopt;
}

Response Response::json(int status, std::string body) {
    return text(status, std::move(body), "application/json");
}

Response Response::text(int status, std::string body, std::string_view content_type) {
    Response r;
    r.status = status;
    r.headers.set("Content-Type", content_type);
    r.body = std::move(body);
    return r;
}

Response Response::empty(int status) {
    Response r;
    r.status = status;
    return r;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 204:
            return "No Content";
        case 206:
            return "Partial Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 303:
            return "See Other";
        case 304:
            return "Not Modified";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 406:
            return "Not Acceptable";
        case 408:
            return "Request Timeout";
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 411:
            return "Length Required";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Content Too Large";
        case 415:
            return "Unsupported Media Type";
        case 422:
            return "Unprocessable Content";
        case 428:
            return "Precondition Required";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "";
    }
}

}  // namespace olympus::http
