#pragma once

// CloudEvents 1.0 in the JSON event format (application/cloudevents+json): the envelope of every
// event Olympus publishes. Only JSON payloads are carried (`data`, never `data_base64`): every
// Olympus event is JSON, and refusing binary keeps consumers from meeting a shape they cannot read.
//
// The W3C trace of the request that caused an event travels with it in the `traceparent` and
// `tracestate` extension attributes (CloudEvents Distributed Tracing extension), so a consumer's log
// lines join the producer's trace.

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace olympus::trace {
struct TraceContext;
}

namespace olympus::events {

inline constexpr std::string_view kSpecVersion = "1.0";
inline constexpr std::string_view kJsonContentType = "application/json";
// The media type of a whole event in the JSON format (structured mode).
inline constexpr std::string_view kCloudEventsJsonMediaType = "application/cloudevents+json";
// Attribute names SHOULD NOT be longer (spec §"Attribute Naming Convention"); we hold our own
// extensions to it and accept longer ones from others.
inline constexpr std::size_t kRecommendedMaxAttributeName = 20;

// A document that is not a valid CloudEvent; the message names the offending attribute.
class InvalidEvent : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

struct CloudEvent {
    using Clock = std::chrono::system_clock;

    std::string id;                         // unique per source; consumers de-duplicate by it
    std::string source;                     // URI-reference of the producer, e.g. "/poseidon"
    std::string type;                       // reverse-DNS, e.g. "olympus.order.created"; also the bus subject
    std::optional<Clock::time_point> time;  // when the occurrence happened (RFC 3339 UTC on the wire)
    std::string subject;                    // the entity within the source, e.g. the order id ("" = absent)
    std::string datacontenttype{kJsonContentType};
    std::string dataschema;  // absolute URI ("" = absent)
    // The payload; null is written as absent (Olympus never sends an explicit null payload).
    boost::json::value data;
    std::string traceparent;  // W3C traceparent of the producing span ("" = absent)
    std::string tracestate;   // W3C tracestate, passed on unchanged ("" = absent)
    // Other extension attributes, kept so that an event read and written again loses nothing. Values
    // are strings, integers or booleans (the JSON mapping of the CloudEvents type system).
    boost::json::object extensions;

    // A new event: a fresh time-ordered id (UUIDv7), the current time, JSON data, and the trace of
    // the calling span when given.
    static CloudEvent make(std::string source, std::string type, std::string subject, boost::json::value data,
                           const trace::TraceContext* trace = nullptr);

    // Sets an extension attribute; throws InvalidEvent for a name that is not lower-case
    // alphanumeric of at most kRecommendedMaxAttributeName characters, for a name of a context
    // attribute, and for a value that is not a string, integer or boolean.
    CloudEvent& set_extension(std::string_view name, boost::json::value value);

    // The trace a consumer continues: the producer's, or a fresh one when none (or a malformed one)
    // came with the event.
    trace::TraceContext trace_context() const;

    // The JSON format. to_json throws InvalidEvent when a required attribute is empty.
    boost::json::object to_json() const;
    std::string serialize() const;
    // Validates against the CloudEvents 1.0 JSON format and throws InvalidEvent naming the problem:
    // required attributes (id, source, specversion "1.0", type) present as non-empty strings, optional
    // ones strings or null, time an RFC 3339 date-time, source a URI-reference, dataschema a URI,
    // attribute names lower-case alphanumeric, data_base64 refused, non-JSON data only as a string.
    static CloudEvent from_json(const boost::json::value& json);
    static CloudEvent parse(std::string_view text);

    bool operator==(const CloudEvent&) const = default;
};

// True for a name made of 'a'-'z' and '0'-'9' only (any length ≥ 1), as attribute names MUST be.
bool valid_attribute_name(std::string_view name);

// A new UUIDv7 (RFC 9562) in its canonical lower-case form: unique, and sortable by creation time,
// which keeps database indexes on event ids append-mostly.
std::string new_event_id();

// RFC 3339 in UTC with microseconds, e.g. "2024-05-01T12:34:56.789012Z".
std::string format_rfc3339(CloudEvent::Clock::time_point time);
// Any RFC 3339 date-time (offsets, any fraction length, 'T'/'t', 'Z'/'z'), converted to UTC;
// nullopt when malformed or out of range (leap second 60 is accepted and read as :59).
std::optional<CloudEvent::Clock::time_point> parse_rfc3339(std::string_view text);

}  // namespace olympus::events
