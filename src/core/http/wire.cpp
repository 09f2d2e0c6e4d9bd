#include "http/wire.hpp"

#include <charconv>
#include <ctime>

namespace olympus::http {

namespace {

// Fields the server computes itself; a handler's copy is ignored.
bool framing_field(std::string_view name) {
    return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
           iequals(name, "Connection") || iequals(name, "Keep-Alive") || iequals(name, "Date");
}

bool is_tchar(unsigned char c) {
    // RFC 9110 §5.6.2
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~':
            return true;
        default:
            return false;
    }
}

bool all_digits(std::string_view s) {
    if (s.empty() || s.size() > 19) return false;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

void append_number(std::string& out, std::size_t n) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
    out.append(digits, end);
}

}  // namespace

bool valid_field_name(std::string_view name) {
    if (name.empty()) return false;
    for (char c : name) {
        if (!is_tchar(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

// RFC 9110 §5.5: field values are visible characters, spaces and tabs (and obs-text); any other
// control character would make strict clients reject the whole response.
bool valid_field_value(std::string_view value) {
    for (char c : value) {
        auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && byte != '\t') || byte == 0x7f) return false;
    }
    return true;
}

bool wants_close(const Response& response) {
    auto connection = response.headers.get("Connection");
    if (!connection) return false;
    // A token list (RFC 9110 §7.6.1); "close" anywhere in it counts.
    std::string_view rest = *connection;
    while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view token = rest.substr(0, comma);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
        if (iequals(token, "close")) return true;
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return false;
}

std::string_view http_date() {
    struct Cache {
        std::time_t second = -1;
        char text[32] = {};
        std::size_t size = 0;
    };
    thread_local Cache cache;
    std::time_t now = std::time(nullptr);
    if (now != cache.second) {
        static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        std::tm tm{};
        gmtime_r(&now, &tm);
        int n = std::snprintf(cache.text, sizeof cache.text, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                              kDays[tm.tm_wday % 7], tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900,
                              tm.tm_hour, tm.tm_min, tm.tm_sec);
        cache.size = n > 0 ? static_cast<std::size_t>(n) : 0;
        cache.second = now;
    }
    return {cache.text, cache.size};
}

bool serialize_head(const Response& response, const HeadOptions& options, std::string& out) {
    const int status = response.status;
    out += "HTTP/1.1 ";
    append_number(out, static_cast<std::size_t>(status));
    out += ' ';
    out += reason_phrase(status);
    out += "\r\n";

    // RFC 9110 §6.4.1: 1xx, 204 and 304 have no content; 204 and 1xx carry no Content-Length either.
    const bool no_content = status < 200 || status == 204 || status == 304;
    std::string_view handler_length;
    for (const auto& field : response.headers) {
        if (framing_field(field.name)) {
            if (iequals(field.name, "Content-Length")) handler_length = field.value;
            continue;
        }
        if (!valid_field_name(field.name) || !valid_field_value(field.value)) continue;
        out += field.name;
        out += ": ";
        out += field.value;
        out += "\r\n";
    }

    out += "Date: ";
    out += http_date();
    out += "\r\n";

    if (!no_content) {
        out += "Content-Length: ";
        if (options.head_request && response.body.empty() && all_digits(handler_length)) {
            out += handler_length;
        } else {
            append_number(out, response.body.size());
        }
        out += "\r\n";
    } else if (status == 304 && all_digits(handler_length)) {
        // A 304 may repeat the Content-Length the GET would have had (RFC 9110 §8.6).
        out += "Content-Length: ";
        out += handler_length;
        out += "\r\n";
    }

    if (!options.keep_alive) {
        out += "Connection: close\r\n";
    } else if (options.http10) {
        out += "Connection: keep-alive\r\n";
    }
    out += "\r\n";
    return !no_content && !options.head_request && !response.body.empty();
}

}  // namespace olympus::http
