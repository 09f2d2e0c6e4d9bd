// The parts of the port every adapter shares: names, document rules, cursors and errors.

#include "documents/document_store.hpp"

#include <cmath>
#include <limits>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace olympus::documents {
namespace {

using boost::json::object;

TEST(DocumentBase64url, MatchesTheRfc4648VectorsWithoutPadding) {
    const std::pair<std::string, std::string> vectors[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(base64url_encode(plain), encoded);
        EXPECT_EQ(base64url_decode(encoded), plain);
    }
    // The URL alphabet: '-' and '_' where standard base64 has '+' and '/'.
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
}

TEST(DocumentBase64url, EveryByteRoundTrips) {
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    for (std::size_t length = 0; length <= all.size(); length += 37) {
        std::string part = all.substr(0, length);
        EXPECT_EQ(base64url_decode(base64url_encode(part)), part) << length;
    }
}

TEST(DocumentBase64url, RejectsPaddingForeignCharactersAndImpossibleLengths) {
    for (const char* text : {"Zg==", "Zg=", "Z", "Zm9vY", "Zm9v+", "Zm9v/", "Zm 9v", "Zm9v\n"}) {
        EXPECT_FALSE(base64url_decode(text)) << text;
    }
    EXPECT_FALSE(base64url_decode(std::string_view("Zm9vYg\0A", 8)));
}

TEST(DocumentCursor, RoundTripsItsPosition) {
    std::string cursor = encode_cursor("created_at", Direction::descending, "2024-01-01T00:00:00Z", "o-'1\"");
    EXPECT_EQ(cursor.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    DecodedCursor decoded = decode_cursor(cursor);
    EXPECT_EQ(decoded.order_by, "created_at");
    EXPECT_EQ(decoded.direction, Direction::descending);
    EXPECT_EQ(decoded.key, "2024-01-01T00:00:00Z");
    EXPECT_EQ(decoded.id, "o-'1\"");

    DecodedCursor by_id = decode_cursor(encode_cursor("", Direction::ascending, nullptr, "x"));
    EXPECT_EQ(by_id.order_by, "");
    EXPECT_TRUE(by_id.key.is_null());
}

TEST(DocumentCursor, ForgedOrDamagedCursorsAreBadRequests) {
    auto encoded = [](std::string_view json) { return base64url_encode(json); };
    for (const std::string& cursor :
         {std::string("@@@"), encoded("not json"), encoded("{}"), encoded("[1,2,3,4]"),
          encoded(R"(["f","asc",1])"), encoded(R"(["f","sideways",1,"id"])"), encoded(R"(["f","asc",1,""])"),
          encoded(R"(["f","asc",1,7])"), std::string(kMaxCursorLength + 4, 'A')}) {
        try {
            decode_cursor(cursor);
            FAIL() << "accepted " << cursor;
        } catch (const InvalidQuery& e) {
            EXPECT_EQ(e.status(), 400);
        }
    }
}

TEST(DocumentNames, CollectionsAndFieldsAreLowercaseIdentifiers) {
    EXPECT_TRUE(valid_collection_name("orders"));
    EXPECT_TRUE(valid_collection_name("_outbox_2"));
    EXPECT_TRUE(valid_collection_name(std::string(kMaxNameLength, 'a')));
    EXPECT_FALSE(valid_collection_name(std::string(kMaxNameLength + 1, 'a')));
    for (const char* bad : {"", "Orders", "2nd", "a-b", "a.b", "a b", "a;", "a\"", "ä"}) {
        EXPECT_FALSE(valid_collection_name(bad)) << bad;
        EXPECT_FALSE(valid_field_name(bad)) << bad;
    }
    EXPECT_TRUE(valid_field_name("created_at"));
    EXPECT_FALSE(valid_field_name("_id"));  // '_' first belongs to the store
}

TEST(DocumentTypes, IndexedValuesHaveExactlyTheirType) {
    EXPECT_TRUE(has_type("x", FieldType::string));
    EXPECT_FALSE(has_type(boost::json::string(std::string("a\0b", 3)), FieldType::string));
    EXPECT_TRUE(has_type(5, FieldType::integer));
    EXPECT_TRUE(has_type(std::uint64_t{9223372036854775807ULL}, FieldType::integer));
    EXPECT_FALSE(has_type(std::uint64_t{9223372036854775808ULL}, FieldType::integer));
    EXPECT_FALSE(has_type(5.0, FieldType::integer));
    EXPECT_TRUE(has_type(5.5, FieldType::number));
    EXPECT_TRUE(has_type(5, FieldType::number));
    EXPECT_FALSE(has_type(std::numeric_limits<double>::quiet_NaN(), FieldType::number));
    EXPECT_TRUE(has_type(false, FieldType::boolean));
    EXPECT_FALSE(has_type(0, FieldType::boolean));
    EXPECT_FALSE(has_type(nullptr, FieldType::string));
    EXPECT_FALSE(has_type("5", FieldType::integer));
}

std::string rejection(const CollectionSpec& spec, const object& body) {
    try {
        validate_body(spec, body);
        return "(accepted)";
    } catch (const InvalidDocument& e) {
        return e.detail();
    }
}

TEST(DocumentRules, RejectionsNameTheMemberByJsonPointer) {
    CollectionSpec spec{"orders",
                        {{"status", FieldType::string}, {"total", FieldType::integer, false, false}}};
    auto with = [](const char* json) { return boost::json::parse(json).as_object(); };
    EXPECT_EQ(rejection(spec, with(R"({"status": "x", "a": [{"b.c": 1}]})")),
              "/a/0/b.c: member names must not contain '.'");
    EXPECT_EQ(rejection(spec, with(R"({"status": "x", "a/b": {"$x": 1}})")),
              "/a~1b/$x: member names must not start with '$'");
    EXPECT_EQ(rejection(spec, with(R"({"status": "x", "_meta": 1})")),
              "/_meta: top-level names starting with '_' are reserved");
    EXPECT_EQ(rejection(spec, with(R"({"total": 1})")), "/status: required");
    EXPECT_EQ(rejection(spec, with(R"({"status": 1})")), "/status: must be a string without NUL");
    EXPECT_EQ(rejection(spec, with(R"({"status": "x", "total": null})")),
              "/total: must be omitted rather than null");
    EXPECT_EQ(rejection(spec, with(R"({"status": "x", "n": [1, 18446744073709551615]})")),
              "/n/1: integers must fit in 64 signed bits");
    EXPECT_EQ(rejection(spec, with(R"({"status": "x", "total": 3, "ok": {"_fine": "inside"}})")),
              "(accepted)");

    object bad_utf8 = with(R"({"status": "x"})");
    bad_utf8["s"] = boost::json::string("\xc3\x28");
    EXPECT_EQ(rejection(spec, bad_utf8), "/s: strings must be UTF-8");
    object infinite = with(R"({"status": "x"})");
    infinite["d"] = std::numeric_limits<double>::infinity();
    EXPECT_EQ(rejection(spec, infinite), "/d: numbers must be finite");
}

// Nesting counts every object and array, the document itself included.
TEST(DocumentRules, NestingIsBoundedAtTheDocumentDepth) {
    CollectionSpec spec{"things", {}};
    auto nested = [](std::size_t containers) {
        boost::json::value inner = 1;
        for (std::size_t i = 1; i < containers; ++i) inner = object{{"a", std::move(inner)}};
        return object{{"a", std::move(inner)}};
    };
    EXPECT_EQ(rejection(spec, nested(kMaxDocumentDepth)), "(accepted)");
    EXPECT_NE(rejection(spec, nested(kMaxDocumentDepth + 1)).find("nested too deeply"), std::string::npos);
}

TEST(DocumentErrors, CarryTheirStatusAndKeepDiagnosticsFromClients) {
    DuplicateKey duplicate("users", "email", "UNIQUE constraint failed: doc_users.f_email");
    EXPECT_EQ(duplicate.status(), 409);
    EXPECT_EQ(duplicate.detail(), "another document already has this email");
    EXPECT_EQ(duplicate.to_json().find("doc_users"), std::string::npos);
    EXPECT_STREQ(duplicate.what(), "UNIQUE constraint failed: doc_users.f_email");

    VersionConflict conflict(3, 5);
    EXPECT_EQ(conflict.status(), 409);
    EXPECT_EQ(conflict.detail(), "the document is at version 5, not 3");

    InvalidName name("collection x was not declared with ensure_collection");
    EXPECT_EQ(name.status(), 500);
    EXPECT_EQ(name.to_json().find("ensure_collection"), std::string::npos);
    EXPECT_STREQ(name.what(), "collection x was not declared with ensure_collection");

    StoreUnavailable unavailable("database is locked");
    EXPECT_EQ(unavailable.status(), 503);
    EXPECT_EQ(unavailable.to_json().find("locked"), std::string::npos);
    EXPECT_EQ(DocumentNotFound("o-1").status(), 404);
    EXPECT_EQ(InvalidDocument("/x: bad").status(), 422);
    EXPECT_EQ(InvalidQuery("limit: bad").status(), 400);
}

}  // namespace
}  // namespace olympus::documents
