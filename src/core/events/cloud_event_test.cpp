#include "events/cloud_event.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "trace/trace_context.hpp"

namespace olympus::events {
namespace {

namespace json = boost::json;

// The JSON Schema published with the CloudEvents JSON format is the oracle for attribute presence
// and types.
json::object load_schema() {
    std::ifstream in(std::string(OLYMPUS_SOURCE_DIR) + "/tests/specs/cloudevents/formats/cloudevents.json");
    std::stringstream text;
    text << in.rdbuf();
    return json::parse(text.str()).as_object();
}

json::object valid_event() {
    return json::parse(R"({
        "specversion": "1.0", "id": "C234-1234-1234", "source": "/mycontext", "type": "com.example.someevent",
        "time": "2018-04-05T17:31:00Z", "subject": "larger-context", "datacontenttype": "application/json",
        "dataschema": "https://example.com/schema.json", "comexampleextension1": "value",
        "comexampleothervalue": 5, "data": {"appinfoA": "abc", "appinfoB": 123, "appinfoC": true}
    })")
        .as_object();
}

// The definition a property of the schema refers to ("#/definitions/iddef" → the iddef object).
const json::object& definition_of(const json::object& schema, std::string_view property) {
    const auto& ref = schema.at("properties").at(property).at("$ref").as_string();
    const std::string_view name = std::string_view(ref).substr(ref.rfind('/') + 1);
    return schema.at("definitions").at(name).as_object();
}

std::set<std::string> allowed_types(const json::object& definition) {
    std::set<std::string> types;
    const auto& type = definition.at("type");
    if (type.is_string()) {
        types.insert(std::string(type.as_string()));
    } else {
        for (const auto& t : type.as_array()) types.insert(std::string(t.as_string()));
    }
    return types;
}

TEST(CloudEvent, ParsesTheJsonFormatSpecificationExample) {
    const CloudEvent event = CloudEvent::from_json(valid_event());
    EXPECT_EQ(event.id, "C234-1234-1234");
    EXPECT_EQ(event.source, "/mycontext");
    EXPECT_EQ(event.type, "com.example.someevent");
    ASSERT_TRUE(event.time);
    EXPECT_EQ(format_rfc3339(*event.time), "2018-04-05T17:31:00.000000Z");
    EXPECT_EQ(event.subject, "larger-context");
    EXPECT_EQ(event.dataschema, "https://example.com/schema.json");
    EXPECT_EQ(event.data.at("appinfoB").as_int64(), 123);
    EXPECT_EQ(event.extensions.at("comexampleextension1").as_string(), "value");
    EXPECT_EQ(event.extensions.at("comexampleothervalue").as_int64(), 5);
}

TEST(CloudEvent, EveryAttributeTheSchemaRequiresIsRequired) {
    const json::object schema = load_schema();
    const auto& required = schema.at("required").as_array();
    ASSERT_EQ(required.size(), 4u);  // id, source, specversion, type
    for (const auto& name : required) {
        json::object event = valid_event();
        event.erase(name.as_string());
        EXPECT_THROW(CloudEvent::from_json(event), InvalidEvent) << "without " << name;
        event[name.as_string()] = "";  // minLength 1
        EXPECT_THROW(CloudEvent::from_json(event), InvalidEvent) << "empty " << name;
        event[name.as_string()] = nullptr;  // not nullable
        EXPECT_THROW(CloudEvent::from_json(event), InvalidEvent) << "null " << name;
    }
}

TEST(CloudEvent, AttributeTypesFollowTheSchema) {
    const json::object schema = load_schema();
    const std::vector<std::pair<std::string, json::value>> samples{
        {"string", json::value("x")}, {"number", json::value(7)}, {"boolean", json::value(true)},
        {"object", json::object{}},   {"array", json::array{1}},  {"null", json::value(nullptr)}};
    for (const auto& property : schema.at("properties").as_object()) {
        const std::string name(property.key());
        if (name == "data" || name == "data_base64") continue;  // payload members, checked below
        const std::set<std::string> allowed = allowed_types(definition_of(schema, name));
        for (const auto& [type, sample] : samples) {
            if (allowed.contains(type)) continue;
            json::object event = valid_event();
            event[name] = sample;
            EXPECT_THROW(CloudEvent::from_json(event), InvalidEvent) << name << " as " << type;
        }
        if (allowed.contains("null")) {
            json::object event = valid_event();
            event[name] = nullptr;
            EXPECT_NO_THROW(CloudEvent::from_json(event)) << name << " as null means unset";
        }
    }
}

TEST(CloudEvent, DataMayBeAnyJsonValue) {
    const json::object schema = load_schema();
    EXPECT_EQ(allowed_types(definition_of(schema, "data")).size(), 6u);
    for (const json::value& data :
         {json::value("text"), json::value(1.5), json::value(json::array{1, 2}), json::value(false)}) {
        json::object event = valid_event();
        event["data"] = data;
        EXPECT_EQ(CloudEvent::from_json(event).data, data);
    }
}

TEST(CloudEvent, RoundTripsThroughJsonWithoutLoss) {
    const auto trace = trace::TraceContext::start();
    CloudEvent event = CloudEvent::make("/poseidon", "olympus.order.created", "ord_42",
                                        json::object{{"total", 1250}, {"currency", "EUR"}}, &trace);
    event.set_extension("partitionkey", "ord_42").set_extension("priority", 3).set_extension("urgent", true);
    const CloudEvent back = CloudEvent::parse(event.serialize());
    EXPECT_EQ(back, event);
    EXPECT_EQ(back.traceparent, trace.traceparent());
    // The consumer continues the producer's trace in a span of its own.
    const auto continued = back.trace_context();
    EXPECT_EQ(continued.trace_id_hex(), trace.trace_id_hex());
    EXPECT_EQ(continued.parent_id_hex(), trace.span_id_hex());
}

TEST(CloudEvent, SerialisesRequiredAttributesAndRfc3339UtcTime) {
    const CloudEvent event = CloudEvent::make("/hera", "olympus.user.registered", "usr_1", json::object{});
    const json::object out = event.to_json();
    EXPECT_EQ(out.at("specversion").as_string(), "1.0");
    EXPECT_EQ(out.at("datacontenttype").as_string(), "application/json");
    EXPECT_EQ(out.at("id").as_string().size(), 36u);
    const std::string time(out.at("time").as_string());
    EXPECT_EQ(time.size(), 27u);
    EXPECT_EQ(time.back(), 'Z');
    EXPECT_FALSE(out.contains("traceparent"));  // absent rather than empty
    CloudEvent without_id = event;
    without_id.id.clear();
    EXPECT_THROW(without_id.to_json(), InvalidEvent);
}

TEST(CloudEvent, DataWithoutContentTypeIsJson) {
    json::object event = valid_event();
    event.erase("datacontenttype");
    EXPECT_EQ(CloudEvent::from_json(event).datacontenttype, "application/json");
}

TEST(CloudEvent, NonJsonContentTypeCarriesDataAsAString) {
    json::object event = valid_event();
    event["datacontenttype"] = "application/xml";
    EXPECT_THROW(CloudEvent::from_json(event), InvalidEvent);  // data is an object
    event["data"] = "<much wow=\"xml\"/>";
    EXPECT_EQ(CloudEvent::from_json(event).data.as_string(), "<much wow=\"xml\"/>");
    event["datacontenttype"] = "application/vnd.olympus+json; charset=utf-8";
    event["data"] = json::object{{"a", 1}};
    EXPECT_NO_THROW(CloudEvent::from_json(event));
}

TEST(CloudEvent, RefusesWhatTheSpecificationForbids) {
    const std::vector<std::pair<std::string, json::value>> bad{
        {"specversion", json::value("0.3")},                    // only 1.0
        {"time", json::value("2018-04-05 17:31:00")},           // not RFC 3339
        {"time", json::value("2018-02-30T17:31:00Z")},          // no such day
        {"source", json::value("http://[bad")},                 // not a URI-reference
        {"dataschema", json::value("relative/schema.json")},    // must be absolute
        {"data_base64", json::value("Zm9vYg==")},               // binary payloads are not carried
        {"Upper", json::value("x")},                            // attribute names are lower-case
        {"with_underscore", json::value("x")},                  // … and alphanumeric
        {"comexamplefloat", json::value(1.5)},                  // Integer, not a fraction
        {"comexamplebig", json::value(std::int64_t{1} << 31)},  // Integer is 32-bit
        {"comexampleobject", json::object{{"a", 1}}},           // no structured extension values
    };
    for (const auto& [name, value] : bad) {
        json::object event = valid_event();
        event[name] = value;
        EXPECT_THROW(CloudEvent::from_json(event), InvalidEvent) << name << "=" << json::serialize(value);
    }
    EXPECT_THROW(CloudEvent::parse("[1]"), InvalidEvent);
    EXPECT_THROW(CloudEvent::parse("{\"id\":"), InvalidEvent);
}

TEST(CloudEvent, NullExtensionMeansUnset) {
    json::object event = valid_event();
    event["unsetextension"] = nullptr;
    EXPECT_FALSE(CloudEvent::from_json(event).extensions.contains("unsetextension"));
}

TEST(CloudEvent, ExtensionsWeSetFollowTheNamingRules) {
    CloudEvent event;
    EXPECT_NO_THROW(event.set_extension("abcdefghij0123456789", "twenty characters"));
    EXPECT_THROW(event.set_extension("abcdefghij01234567890", "x"), InvalidEvent);  // 21
    EXPECT_THROW(event.set_extension("camelCase", "x"), InvalidEvent);
    EXPECT_THROW(event.set_extension("", "x"), InvalidEvent);
    EXPECT_THROW(event.set_extension("subject", "x"), InvalidEvent);  // a context attribute
    EXPECT_THROW(event.set_extension("nested", json::array{}), InvalidEvent);
    EXPECT_TRUE(valid_attribute_name("a1"));
    EXPECT_FALSE(valid_attribute_name("a-1"));
}

TEST(EventId, IsAUuidVersion7OrderedByCreation) {
    std::string previous = new_event_id();
    for (int i = 0; i < 5000; ++i) {
        const std::string id = new_event_id();
        ASSERT_EQ(id.size(), 36u);
        EXPECT_EQ(id[14], '7');                                          // version
        EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);  // RFC 9562 variant
        ASSERT_LT(previous, id);
        previous = id;
    }
}

TEST(Rfc3339, ParsesOffsetsFractionsAndConvertsToUtc) {
    const auto utc = parse_rfc3339("2024-05-01T12:34:56.789Z");
    ASSERT_TRUE(utc);
    EXPECT_EQ(format_rfc3339(*utc), "2024-05-01T12:34:56.789000Z");
    const auto offset = parse_rfc3339("2024-05-01t14:34:56.789+02:00");
    ASSERT_TRUE(offset);
    EXPECT_EQ(*offset, *utc);
    EXPECT_EQ(format_rfc3339(*parse_rfc3339("2024-12-31T23:30:00-01:00")), "2025-01-01T00:30:00.000000Z");
    EXPECT_EQ(format_rfc3339(*parse_rfc3339("1990-12-31T23:59:60Z")), "1990-12-31T23:59:59.000000Z");
    EXPECT_EQ(format_rfc3339(*parse_rfc3339("2024-02-29T00:00:00.123456789Z")),
              "2024-02-29T00:00:00.123456Z");
    for (std::string_view bad :
         {"2024-05-01", "2024-05-01T12:34:56", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
          "2024-05-01T24:00:00Z", "2024-05-01T12:34:56.Z", "2024-05-01T12:34:56+0200",
          "2024-05-01T12:34:56Zjunk", "2024-05-01T12:60:00Z"}) {
        EXPECT_FALSE(parse_rfc3339(bad)) << bad;
    }
}

}  // namespace
}  // namespace olympus::events
