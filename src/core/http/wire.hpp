#pragma once

// Writes the status line and header fields of a Response the way the server sends them. Kept apart
// from the connection code so that the framing rules can be tested without sockets.

#include <cstddef>
#include <string>
#include <string_view>

#include "http/message.hpp"

namespace olympus::http {

struct HeadOptions {
    bool head_request = false;  // HEAD: the GET's Content-Length, no body
    bool keep_alive = true;     // false: "Connection: close"
    bool http10 = false;        // an HTTP/1.0 client needs "Connection: keep-alive" to keep it
};

// Appends the response head to `out` (which is not cleared) and returns whether the body follows it.
// The server owns the framing: the handler's Content-Length, Transfer-Encoding, Connection,
// Keep-Alive and Date fields are replaced; fields whose name or value could split the head (CR, LF,
// NUL, a non-token name) are dropped. 1xx, 204 and 304 never carry a body. For HEAD, Content-Length
// is the body's size, or the handler's Content-Length when it already left the body out.
bool serialize_head(const Response& response, const HeadOptions& options, std::string& out);

// Whether the handler asked for the connection to be closed ("Connection: close").
bool wants_close(const Response& response);

// The current time as an IMF-fixdate (RFC 9110 §5.6.7), recomputed at most once a second per thread.
std::string_view http_date();

bool valid_field_name(std::string_view name);
bool valid_field_value(std::string_view value);

}  // namespace olympus::http
