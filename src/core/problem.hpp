#pragma once

// The one error type of Olympus: an RFC 9457 problem detail. Domain code throws or returns a
// Problem; the HTTP layer renders it as application/problem+json with the matching status.

#include <stdexcept>
#include <string>

#include <boost/json/object.hpp>

#include "http/message.hpp"

namespace olympus {

class Problem : public std::exception {
  public:
    // `type` is a URI reference; "about:blank" means the status says everything.
    Problem(int status, std::string title, std::string detail = {}, std::string type = "about:blank");

    static Problem bad_request(std::string detail);
    static Problem unauthorized(std::string detail);
    static Problem forbidden(std::string detail);
    static Problem not_found(std::string detail = {});
    static Problem method_not_allowed(std::string detail = {});
    static Problem conflict(std::string detail);
    static Problem payload_too_large(std::string detail);
    static Problem unsupported_media_type(std::string detail);
    static Problem unprocessable(std::string detail);
    static Problem internal();  // never carries internal details to the client

    int status() const { return status_; }
    const std::string& title() const { return title_; }
    const std::string& detail() const { return detail_; }
    const std::string& type() const { return type_; }
    const char* what() const noexcept override { return title_.c_str(); }

    // Extension members (RFC 9457 §3.2), e.g. the offending field.
    Problem& with(std::string_view key, boost::json::value value);
    const boost::json::object& extensions() const { return extensions_; }

    std::string to_json(std::string_view instance = {}) const;
    http::Response to_response(std::string_view instance = {}) const;

  private:
    int status_;
    std::string title_;
    std::string detail_;
    std::string type_;
    boost::json::object extensions_;
};

}  // namespace olympus
