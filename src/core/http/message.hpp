#pragma once

// The HTTP request and response as handlers see them. Plain value types with no Beast or Asio
// inside, so that domain handlers and their tests compile without the networking headers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace olympus::http {

enum class Method : std::uint8_t { get, head, post, put, patch, delete_, options, other };

std::string_view to_string(Method method);
Method method_from_string(std::string_view name);

// Header fields in arrival order; names compare case-insensitively (RFC 9110 §5.1).
class Headers {
  public:
    struct Field {
        std::string name;
        std::string value;
    };

    std::optional<std::string_view> get(std::string_view name) const;
    bool contains(std::string_view name) const { return get(name).has_value(); }
    // Replaces every field of that name with one field.
    void set(std::string_view name, std::string_view value);
    void add(std::string_view name, std::string_view value);
    void erase(std::string_view name);
    void clear() { fields_.clear(); }

    std::size_t size() const { return fields_.size(); }
    auto begin() const { return fields_.begin(); }
    auto end() const { return fields_.end(); }

  private:
    std::vector<Field> fields_;
};

bool iequals(std::string_view a, std::string_view b);

struct Request {
    Method method = Method::get;
    std::string method_name;  // as sent, for logs and 501 answers
    std::string target;       // origin-form: path and query, as sent
    Headers headers;
    std::string body;
    std::string remote_ip;
    bool keep_alive = true;

    std::string_view path() const;   // target without the query
    std::string_view query() const;  // after '?', without it
    // Decoded value of the first query parameter of that name.
    std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
    int status = 200;
    Headers headers;
    std::string body;

    static Response json(int status, std::string body);
    static Response text(int status, std::string body,
                         std::string_view content_type = "text/plain; charset=utf-8");
    static Response empty(int status);
};

// The standard reason phrase, or "" for codes without one.
std::string_view reason_phrase(int status);

}  // namespace olympus::http
