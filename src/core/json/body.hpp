#pragma once

// Typed reading of JSON request bodies. Every failure is a 400 (or 415) Problem that names the
// offending member by JSON Pointer, so clients learn exactly what to fix:
//   {"type":"about:blank","title":"Bad Request","status":400,"detail":"/items/0/quantity: must be an
//    integer","errors":[{"pointer":"/items/0/quantity","detail":"must be an integer"}]}

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "http/message.hpp"

namespace olympus::json {

// Nesting deeper than this is refused: it serves no API and costs stack on hostile input.
inline constexpr std::size_t kMaxDepth = 32;

// 415 unless Content-Type is application/json (or +json); 400 on malformed JSON (with the byte
// offset), on nesting deeper than kMaxDepth, and when the document is not an object.
boost::json::object parse_object(const http::Request& request);
// The same checks on a text already known to be JSON (e.g. a stored document).
boost::json::value parse(std::string_view text);

// Reads members of one JSON object; `pointer` is where this object sits in the document ("" for the root).
class ObjectReader {
  public:
    explicit ObjectReader(const boost::json::object& object, std::string pointer = {});

    std::string required_string(std::string_view key, std::size_t max_length = 1024) const;
    std::optional<std::string> optional_string(std::string_view key, std::size_t max_length = 1024) const;
    std::int64_t required_int(std::string_view key, std::int64_t min, std::int64_t max) const;
    std::optional<std::int64_t> optional_int(std::string_view key, std::int64_t min, std::int64_t max) const;
    bool required_bool(std::string_view key) const;
    std::optional<bool> optional_bool(std::string_view key) const;
    ObjectReader required_object(std::string_view key) const;
    const boost::json::array& required_array(std::string_view key, std::size_t max_items) const;
    // Refuses members not in `known`, so typos in a request are not silently ignored.
    void reject_unknown(std::initializer_list<std::string_view> known) const;

    std::string pointer_to(std::string_view key) const;
    const boost::json::object& object() const { return object_; }

  private:
    const boost::json::value* find(std::string_view key) const;
    const boost::json::value& require(std::string_view key) const;

    const boost::json::object& object_;
    std::string pointer_;
};

// The object at `index` of an array read from `pointer` (400 when it is not an object).
ObjectReader object_at(const boost::json::array& array, std::size_t index, const std::string& pointer);

// A 400 Problem naming the member at `pointer`.
[[noreturn]] void fail(const std::string& pointer, std::string_view detail);

// RFC 6901 escaping of one reference token ("~" → "~0", "/" → "~1").
std::string escape_pointer_token(std::string_view token);

}  // namespace olympus::json
