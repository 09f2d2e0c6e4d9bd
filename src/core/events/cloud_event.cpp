#include "events/cloud_event.hpp"

#include <array>
#include <cstdint>
#include <mutex>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <openssl/rand.h>

#include "trace/trace_context.hpp"

namespace olympus::events {
namespace {

namespace json = boost::json;
using Clock = CloudEvent::Clock;

// Attributes the specification defines (context attributes and the data members); an extension
// may not take one of these names.
constexpr std::array<std::string_view, 11> kDefinedNames{
    "specversion",     "id",         "source", "type",        "time",      "subject",
    "datacontenttype", "dataschema", "data",   "traceparent", "tracestate"};

bool is_defined_name(std::string_view name) {
    for (auto defined : kDefinedNames) {
        if (defined == name) return true;
    }
    return false;
}

// The CloudEvents Integer type is a signed 32-bit number.
bool is_ce_integer(const json::value& value) {
    if (value.is_int64()) return value.get_int64() >= INT32_MIN && value.get_int64() <= INT32_MAX;
    if (value.is_uint64()) return value.get_uint64() <= static_cast<std::uint64_t>(INT32_MAX);
    return false;
}

bool is_extension_value(const json::value& value) {
    return value.is_string() || value.is_bool() || is_ce_integer(value);
}

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// JSON format §3.1: a media type, stripped of parameters, of the form */json or */*+json.
bool declares_json(std::string_view content_type) {
    const auto semicolon = content_type.find(';');
    std::string media(content_type.substr(0, semicolon));
    while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
    for (auto& c : media) c = ascii_lower(c);
    const auto slash = media.find('/');
    if (slash == std::string::npos) return false;
    const std::string_view subtype = std::string_view(media).substr(slash + 1);
    return subtype == "json" || (subtype.size() > 5 && subtype.ends_with("+json"));
}

[[noreturn]] void invalid(std::string_view attribute, std::string_view why) {
    throw InvalidEvent("CloudEvent attribute '" + std::string(attribute) + "': " + std::string(why));
}

// A required attribute: a non-empty string.
std::string required_string(const json::value& value, std::string_view name) {
    if (!value.is_string()) invalid(name, "must be a string");
    if (value.get_string().empty()) invalid(name, "must not be empty");
    return std::string(value.get_string());
}

// An optional attribute: null (unset) or a non-empty string.
std::string optional_string(const json::value& value, std::string_view name) {
    if (value.is_null()) return {};
    return required_string(value, name);
}

int digits(std::string_view text, std::size_t at, std::size_t count) {
    if (at + count > text.size()) return -1;
    int result = 0;
    for (std::size_t i = at; i < at + count; ++i) {
        if (text[i] < '0' || text[i] > '9') return -1;
        result = result * 10 + (text[i] - '0');
    }
    return result;
}

bool expect(std::string_view text, std::size_t at, char c) {
    return at < text.size() && text[at] == c;
}

void append_padded(std::string& out, std::int64_t value, int width) {
    std::array<char, 20> buffer{};
    int length = 0;
    do {
        buffer[static_cast<std::size_t>(length++)] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value > 0);
    for (int i = length; i < width; ++i) out += '0';
    while (length > 0) out += buffer[static_cast<std::size_t>(--length)];
}

}  // namespace

bool valid_attribute_name(std::string_view name) {
    if (name.empty()) return false;
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    }
    return true;
}

std::string new_event_id() {
    // RFC 9562 §6.2 method 1: within one millisecond a 12-bit counter (rand_a) keeps ids of this
    // process strictly increasing; on overflow the timestamp is advanced by one.
    static std::mutex mutex;
    static std::uint64_t last_ms = 0;
    static std::uint32_t counter = 0;
    std::array<std::uint8_t, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
        throw std::runtime_error("RAND_bytes failed");
    std::uint64_t ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count());
    std::uint32_t sequence = 0;
    {
        std::lock_guard lock(mutex);
        if (ms <= last_ms) {
            ms = last_ms;
            if (++counter > 0x0FFF) {
                ++ms;
                counter = 0;
            }
        } else {
            // Start each millisecond at a random point in the lower half so that the counter rarely
            // overflows.
            counter = (static_cast<std::uint32_t>(bytes[6]) << 8 | bytes[7]) & 0x07FF;
        }
        last_ms = ms;
        sequence = counter;
    }
    for (int i = 0; i < 6; ++i)
        bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
    bytes[6] = static_cast<std::uint8_t>(0x70 | ((sequence >> 8) & 0x0F));
    bytes[7] = static_cast<std::uint8_t>(sequence & 0xFF);
    bytes[8] = static_cast<std::uint8_t>(0x80 | (bytes[8] & 0x3F));

    static constexpr char kHex[] = "0123456789abcdef";
    std::string id;
    id.reserve(36);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) id += '-';
        id += kHex[bytes[i] >> 4];
        id += kHex[bytes[i] & 0x0F];
    }
    return id;
}

std::string format_rfc3339(Clock::time_point time) {
    using namespace std::chrono;
    const auto micros = floor<microseconds>(time);
    const auto day = floor<days>(micros);
    const year_month_day date{day};
    const hh_mm_ss clock{micros - day};
    std::string out;
    out.reserve(27);
    append_padded(out, static_cast<int>(date.year()), 4);
    out += '-';
    append_padded(out, static_cast<unsigned>(date.month()), 2);
    out += '-';
    append_padded(out, static_cast<unsigned>(date.day()), 2);
    out += 'T';
    append_padded(out, clock.hours().count(), 2);
    out += ':';
    append_padded(out, clock.minutes().count(), 2);
    out += ':';
    append_padded(out, clock.seconds().count(), 2);
    out += '.';
    append_padded(out, clock.subseconds().count(), 6);
    out += 'Z';
    return out;
}

std::optional<Clock::time_point> parse_rfc3339(std::string_view text) {
    using namespace std::chrono;
    // date-fullyear "-" date-month "-" date-mday "T" time-hour ":" time-minute ":" time-second
    const int y = digits(text, 0, 4), mo = digits(text, 5, 2), d = digits(text, 8, 2);
    const int h = digits(text, 11, 2), mi = digits(text, 14, 2), s = digits(text, 17, 2);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0) return std::nullopt;
    if (!expect(text, 4, '-') || !expect(text, 7, '-') || !expect(text, 13, ':') || !expect(text, 16, ':')) {
        return std::nullopt;
    }
    if (!expect(text, 10, 'T') && !expect(text, 10, 't')) return std::nullopt;
    const year_month_day date{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!date.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;

    std::size_t at = 19;
    nanoseconds fraction{0};
    if (expect(text, at, '.')) {
        ++at;
        const std::size_t start = at;
        std::int64_t nanos = 0;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
            if (at - start < 9) nanos = nanos * 10 + (text[at] - '0');
            ++at;
        }
        if (at == start) return std::nullopt;
        for (std::size_t n = at - start; n < 9; ++n) nanos *= 10;
        fraction = nanoseconds{nanos};
    }
    minutes offset{0};
    if (expect(text, at, 'Z') || expect(text, at, 'z')) {
        ++at;
    } else if (expect(text, at, '+') || expect(text, at, '-')) {
        const int oh = digits(text, at + 1, 2), om = digits(text, at + 4, 2);
        if (oh < 0 || om < 0 || !expect(text, at + 3, ':') || oh > 23 || om > 59) return std::nullopt;
        offset = hours{oh} + minutes{om};
        if (text[at] == '-') offset = -offset;
        at += 6;
    } else {
        return std::nullopt;
    }
    if (at != text.size()) return std::nullopt;
    // A leap second has no place on the system clock; it is read as the second before it.
    const auto local = sys_days{date} + hours{h} + minutes{mi} + seconds{s == 60 ? 59 : s};
    return time_point_cast<Clock::duration>(local - offset + fraction);
}

CloudEvent CloudEvent::make(std::string source, std::string type, std::string subject, json::value data,
                            const trace::TraceContext* trace) {
    CloudEvent event;
    event.id = new_event_id();
    event.source = std::move(source);
    event.type = std::move(type);
    // Microseconds are what the wire carries, so an event equals itself read back.
    event.time = std::chrono::floor<std::chrono::microseconds>(Clock::now());
    event.subject = std::move(subject);
    event.data = std::move(data);
    if (trace != nullptr) {
        event.traceparent = trace->traceparent();
        event.tracestate = trace->tracestate;
    }
    return event;
}

CloudEvent& CloudEvent::set_extension(std::string_view name, json::value value) {
    if (!valid_attribute_name(name)) invalid(name, "extension names are lower-case letters and digits");
    if (name.size() > kRecommendedMaxAttributeName)
        invalid(name, "extension names are at most 20 characters");
    if (is_defined_name(name)) invalid(name, "is not an extension attribute");
    if (!is_extension_value(value))
        invalid(name, "extension values are strings, 32-bit integers or booleans");
    extensions[name] = std::move(value);
    return *this;
}

trace::TraceContext CloudEvent::trace_context() const {
    return trace::TraceContext::continue_from(traceparent, tracestate);
}

json::object CloudEvent::to_json() const {
    if (id.empty()) invalid("id", "must not be empty");
    if (source.empty()) invalid("source", "must not be empty");
    if (type.empty()) invalid("type", "must not be empty");
    json::object out;
    out.reserve(11 + extensions.size());
    out["specversion"] = kSpecVersion;
    out["id"] = id;
    out["source"] = source;
    out["type"] = type;
    if (time) out["time"] = format_rfc3339(*time);
    if (!subject.empty()) out["subject"] = subject;
    if (!datacontenttype.empty()) out["datacontenttype"] = datacontenttype;
    if (!dataschema.empty()) out["dataschema"] = dataschema;
    if (!traceparent.empty()) out["traceparent"] = traceparent;
    if (!tracestate.empty()) out["tracestate"] = tracestate;
    for (const auto& member : extensions) out[member.key()] = member.value();
    if (!data.is_null()) out["data"] = data;
    return out;
}

std::string CloudEvent::serialize() const {
    return json::serialize(to_json());
}

CloudEvent CloudEvent::from_json(const json::value& document) {
    if (!document.is_object()) throw InvalidEvent("a CloudEvent must be a JSON object");
    CloudEvent event;
    event.datacontenttype.clear();  // absent unless the document has it
    bool has_specversion = false, has_datacontenttype = false;
    for (const auto& member : document.get_object()) {
        const std::string_view name = member.key();
        const json::value& value = member.value();
        if (name == "specversion") {
            if (required_string(value, name) != kSpecVersion) invalid(name, "only \"1.0\" is supported");
            has_specversion = true;
        } else if (name == "id") {
            event.id = required_string(value, name);
        } else if (name == "source") {
            event.source = required_string(value, name);
            if (!boost::urls::parse_uri_reference(event.source)) invalid(name, "must be a URI-reference");
        } else if (name == "type") {
            event.type = required_string(value, name);
        } else if (name == "time") {
            const std::string text = optional_string(value, name);
            if (!text.empty()) {
                event.time = parse_rfc3339(text);
                if (!event.time) invalid(name, "must be an RFC 3339 date-time");
            }
        } else if (name == "subject") {
            event.subject = optional_string(value, name);
        } else if (name == "datacontenttype") {
            event.datacontenttype = optional_string(value, name);
            has_datacontenttype = !event.datacontenttype.empty();
        } else if (name == "dataschema") {
            event.dataschema = optional_string(value, name);
            if (!event.dataschema.empty() && !boost::urls::parse_uri(event.dataschema)) {
                invalid(name, "must be an absolute URI");
            }
        } else if (name == "data") {
            event.data = value;
        } else if (name == "data_base64") {
            invalid(name, "binary data is not supported; send JSON in 'data'");
        } else if (name == "traceparent") {
            event.traceparent = optional_string(value, name);
        } else if (name == "tracestate") {
            event.tracestate = optional_string(value, name);
        } else {
            if (!valid_attribute_name(name))
                invalid(name, "attribute names are lower-case letters and digits");
            if (value.is_null()) continue;  // null means unset
            if (!is_extension_value(value))
                invalid(name, "extension values are strings, 32-bit integers or booleans");
            event.extensions[name] = value;
        }
    }
    if (!has_specversion) invalid("specversion", "is required");
    if (event.id.empty()) invalid("id", "is required");
    if (event.source.empty()) invalid("source", "is required");
    if (event.type.empty()) invalid("type", "is required");
    if (has_datacontenttype && !declares_json(event.datacontenttype) && !event.data.is_null() &&
        !event.data.is_string()) {
        invalid("data", "must be a string when datacontenttype is not JSON");
    }
    // §3.1.2: data without a content type is JSON; saying so keeps that meaning on the next hop.
    if (!has_datacontenttype) event.datacontenttype = kJsonContentType;
    return event;
}

CloudEvent CloudEvent::parse(std::string_view text) {
    boost::system::error_code ec;
    json::parse_options options;
    options.max_depth = 64;  // events are shallow; deep nesting only costs stack
    json::value document = json::parse(text, ec, {}, options);
    if (ec) throw InvalidEvent("a CloudEvent must be valid JSON: " + ec.message());
    return from_json(document);
}

}  // namespace olympus::events
