#include "json/body.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>

#include "problem.hpp"

namespace olympus::json {

namespace {

bool is_json_media_type(std::string_view content_type) {
    std::string_view media = content_type.substr(0, content_type.find(';'));
    while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
    if (http::iequals(media, "application/json")) return true;
    // Structured syntax suffix (RFC 6839), e.g. application/merge-patch+json.
    return media.size() > 5 && http::iequals(media.substr(media.size() - 5), "+json") &&
           http::iequals(media.substr(0, 12), "application/");
}

const char* kind_name(const boost::json::value& v) {
    switch (v.kind()) {
        case boost::json::kind::null:
            return "null";
        case boost::json::kind::bool_:
            return "a boolean";
        case boost::json::kind::int64:
        case boost::json::kind::uint64:
            return "an integer";
        case boost::json::kind::double_:
            return "a number";
        case boost::json::kind::string:
            return "a string";
        case boost::json::kind::array:
            return "an array";
        case boost::json::kind::object:
            return "an object";
    }
    return "a value";
}

void expect(const boost::json::value& v, bool ok, const std::string& pointer, std::string_view wanted) {
    if (!ok) fail(pointer, "must be " + std::string(wanted) + ", not " + kind_name(v));
}

}  // namespace

void fail(const std::string& pointer, std::string_view detail) {
    boost::json::array errors;
    errors.push_back(boost::json::object{{"pointer", pointer}, {"detail", detail}});
    std::string where = pointer.empty() ? "body" : pointer;
    throw Problem::bad_request(where + ": " + std::string(detail)).with("errors", std::move(errors));
}

std::string escape_pointer_token(std::string_view token) {
    std::string out;
    out.reserve(token.size());
    for (char c : token) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
    return out;
}

boost::json::value parse(std::string_view text) {
    boost::json::parse_options options;
    options.max_depth = kMaxDepth;
    boost::json::stream_parser parser({}, options);
    boost::system::error_code ec;
    std::size_t consumed = parser.write_some(text, ec);
    if (!ec && consumed < text.size()) ec = boost::json::error::extra_data;
    if (!ec) parser.finish(ec);
    if (ec) {
        std::string detail =
            ec == boost::json::error::too_deep
                ? "JSON nested deeper than " + std::to_string(kMaxDepth) + " levels"
                : "malformed JSON near byte " + std::to_string(consumed) + ": " + ec.message();
        throw Problem::bad_request(std::move(detail));
    }
    return parser.release();
}

boost::json::object parse_object(const http::Request& request) {
    auto content_type = request.headers.get("Content-Type");
    if (!content_type || !is_json_media_type(*content_type)) {
        throw Problem::unsupported_media_type("the body must be application/json");
    }
    if (request.body.empty()) throw Problem::bad_request("the body is empty; a JSON object is expected");
    boost::json::value value = parse(request.body);
    if (!value.is_object()) fail("", std::string("must be a JSON object, not ") + kind_name(value));
    return std::move(value.as_object());
}

ObjectReader::ObjectReader(const boost::json::object& object, std::string pointer)
    : object_(object), pointer_(std::move(pointer)) {}

std::string ObjectReader::pointer_to(std::string_view key) const {
    return pointer_ + "/" + escape_pointer_token(key);
}

const boost::json::value* ObjectReader::find(std::string_view key) const {
    const boost::json::value* v = object_.if_contains(key);
    // An explicit null is treated as absent: optional members may be sent as null.
    return (v && !v->is_null()) ? v : nullptr;
}

const boost::json::value& ObjectReader::require(std::string_view key) const {
    const boost::json::value* v = find(key);
    if (!v) fail(pointer_to(key), "is required");
    return *v;
}

std::optional<std::string> ObjectReader::optional_string(std::string_view key, std::size_t max_length) const {
    const boost::json::value* v = find(key);
    if (!v) return std::nullopt;
    expect(*v, v->is_string(), pointer_to(key), "a string");
    const auto& s = v->get_string();
    if (s.size() > max_length)
        fail(pointer_to(key), "must be at most " + std::to_string(max_length) + " bytes");
    return std::string(s);
}

std::string ObjectReader::required_string(std::string_view key, std::size_t max_length) const {
    require(key);
    return *optional_string(key, max_length);
}

std::optional<std::int64_t> ObjectReader::optional_int(std::string_view key, std::int64_t min,
                                                       std::int64_t max) const {
    const boost::json::value* v = find(key);
    if (!v) return std::nullopt;
    std::optional<std::int64_t> n;
    if (v->is_int64()) {
        n = v->get_int64();
    } else if (v->is_uint64()) {
        fail(pointer_to(key), "must be at most " + std::to_string(max));
    } else if (v->is_double()) {
        // 3.0 is an integer written as a number; 3.5 is not.
        double d = v->get_double();
        if (d >= -9.2e18 && d <= 9.2e18 && d == static_cast<double>(static_cast<std::int64_t>(d))) {
            n = static_cast<std::int64_t>(d);
        }
    }
    expect(*v, n.has_value(), pointer_to(key), "an integer");
    if (*n < min || *n > max) {
        fail(pointer_to(key), "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return n;
}

std::int64_t ObjectReader::required_int(std::string_view key, std::int64_t min, std::int64_t max) const {
    require(key);
    return *optional_int(key, min, max);
}

std::optional<bool> ObjectReader::optional_bool(std::string_view key) const {
    const boost::json::value* v = find(key);
    if (!v) return std::nullopt;
    expect(*v, v->is_bool(), pointer_to(key), "a boolean");
    return v->get_bool();
}

bool ObjectReader::required_bool(std::string_view key) const {
    require(key);
    return *optional_bool(key);
}

ObjectReader ObjectReader::required_object(std::string_view key) const {
    const boost::json::value& v = require(key);
    expect(v, v.is_object(), pointer_to(key), "an object");
    return ObjectReader(v.get_object(), pointer_to(key));
}

const boost::json::array& ObjectReader::required_array(std::string_view key, std::size_t max_items) const {
    const boost::json::value& v = require(key);
    expect(v, v.is_array(), pointer_to(key), "an array");
    if (v.get_array().size() > max_items) {
        fail(pointer_to(key), "must have at most " + std::to_string(max_items) + " items");
    }
    return v.get_array();
}

void ObjectReader::reject_unknown(std::initializer_list<std::string_view> known) const {
    for (const auto& member : object_) {
        bool listed = false;
        for (std::string_view k : known) listed = listed || k == member.key();
        if (!listed) fail(pointer_to(member.key()), "is not a known member");
    }
}

ObjectReader object_at(const boost::json::array& array, std::size_t index, const std::string& pointer) {
    std::string at = pointer + "/" + std::to_string(index);
    const boost::json::value& v = array.at(index);
    expect(v, v.is_object(), at, "an object");
    return ObjectReader(v.get_object(), at);
}

}  // namespace olympus::json
