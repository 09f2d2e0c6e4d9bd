// What the MongoDB adapter sends, checked without a server: every BSON it builds is compared with
// the extended JSON that libbson itself prints for it.

#include "documents/mongo_bson.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>
#include <mongoc/mongoc.h>

namespace olympus::documents::mongo {
namespace {

using boost::json::object;

object parse(std::string_view json) {
    return boost::json::parse(json).as_object();
}

TEST(MongoBson, ScalarsMapToInt64DoubleStringBoolAndNull) {
    Bson bson = to_bson(parse(R"({"s": "x", "i": 5, "neg": -1, "max": 9223372036854775807,
        "min": -9223372036854775808, "d": 1.5, "whole": 2.0, "t": true, "f": false, "n": null})"));
    EXPECT_EQ(canonical_json(*bson),
              R"({ "s" : "x", "i" : { "$numberLong" : "5" }, "neg" : { "$numberLong" : "-1" }, )"
              R"("max" : { "$numberLong" : "9223372036854775807" }, )"
              R"("min" : { "$numberLong" : "-9223372036854775808" }, "d" : { "$numberDouble" : "1.5" }, )"
              R"("whole" : { "$numberDouble" : "2.0" }, "t" : true, "f" : false, "n" : null })");
}

TEST(MongoBson, NestedObjectsAndArraysKeepTheirShapeAndOrder) {
    Bson bson =
        to_bson(parse(R"({"z": 1, "a": [1, "two", {"b": []}, [true]], "o": {"p": {}, "q": [null]}})"));
    EXPECT_EQ(
        relaxed_json(*bson),
        // libbson prints a nested empty container with two spaces.
        R"({ "z" : 1, "a" : [ 1, "two", { "b" : [  ] }, [ true ] ], "o" : { "p" : {  }, "q" : [ null ] } })");
}

TEST(MongoBson, EveryJsonValueRoundTrips) {
    object original = parse(R"({
        "text": "h\u00e9llo \u4e2d \ud83d\ude00", "control": "a\u0001b\u0000c", "quote": "\"\\/",
        "int": 42, "max": 9223372036854775807, "min": -9223372036854775808, "tiny": 5e-324,
        "huge": 1.7976931348623157e308, "whole": 3.0, "negative_zero": -0.0, "yes": true, "no": false,
        "nothing": null, "ключ": {"deep": [[[{"x": [1, 2.5, "3"]}]]]}, "empty": {}, "list": []
    })");
    object back = to_json(*to_bson(original));
    EXPECT_EQ(back, original);
    EXPECT_TRUE(back.at("int").is_int64());
    EXPECT_TRUE(back.at("whole").is_double());
    EXPECT_EQ(back.at("control").as_string().size(), 5u);
    EXPECT_TRUE(std::signbit(back.at("negative_zero").as_double()));
}

TEST(MongoBson, UnsignedIntegersBecomeInt64WhileTheyFit) {
    object fits;
    fits["n"] = std::uint64_t{9223372036854775807ULL};
    EXPECT_EQ(canonical_json(*to_bson(fits)), R"({ "n" : { "$numberLong" : "9223372036854775807" } })");
    object too_big = parse(R"({"n": 9223372036854775808})");
    ASSERT_TRUE(too_big.at("n").is_uint64());
    EXPECT_THROW(to_bson(too_big), InvalidDocument);
    object nested;
    nested["a"] = boost::json::array{std::uint64_t{18446744073709551615ULL}};
    EXPECT_THROW(to_bson(nested), InvalidDocument);
}

TEST(MongoBson, NonFiniteNumbersAreRefused) {
    for (double d : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                     std::numeric_limits<double>::quiet_NaN()}) {
        object o;
        o["x"] = object{{"y", d}};
        EXPECT_THROW(to_bson(o), InvalidDocument);
    }
}

// MongoDB accepts '.' and '$' in some field names since 5.0 but cannot query or update them
// reliably, so the mapping refuses them everywhere; NUL cannot be in a BSON key at all.
TEST(MongoBson, MemberNamesMongoCannotQueryAreRefusedAtAnyDepth) {
    for (const char* json : {R"({"a.b": 1})", R"({"$set": 1})", R"({"": 1})", R"({"ok": {"x.y": 1}})",
                             R"({"ok": [{"$gt": 1}]})", R"({"ok": [[{"a": {"b.c": 1}}]]})"}) {
        EXPECT_THROW(to_bson(parse(json)), InvalidDocument) << json;
    }
    object nul;
    nul[std::string_view("a\0b", 3)] = 1;
    EXPECT_THROW(to_bson(nul), InvalidDocument);
    // '$' elsewhere than first, and non-ASCII names, are ordinary names.
    EXPECT_EQ(relaxed_json(*to_bson(parse(R"({"price$": 1, "_x": {"y$z": 2}, "名前": 3})"))),
              R"({ "price$" : 1, "_x" : { "y$z" : 2 }, "名前" : 3 })");
}

TEST(MongoBson, Int32ReadsBackAsAnInteger) {
    Bson bson;
    BSON_APPEND_INT32(bson.get(), "n", 7);
    object back = to_json(*bson);
    ASSERT_TRUE(back.at("n").is_int64());
    EXPECT_EQ(back.at("n").as_int64(), 7);
}

TEST(MongoBson, TypesTheMappingDoesNotCoverAreRefusedWhenRead) {
    {
        Bson bson;
        BSON_APPEND_DATE_TIME(bson.get(), "when", 1700000000000);
        EXPECT_THROW(to_json(*bson), StoreFailure);
    }
    {
        Bson bson;
        bson_oid_t oid;
        bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
        bson_t child;
        BSON_APPEND_DOCUMENT_BEGIN(bson.get(), "nested", &child);
        BSON_APPEND_OID(&child, "id", &oid);
        bson_append_document_end(bson.get(), &child);
        try {
            to_json(*bson);
            FAIL() << "ObjectId accepted";
        } catch (const StoreFailure& e) {
            EXPECT_NE(std::string(e.diagnostic()).find("/nested/id"), std::string::npos) << e.diagnostic();
        }
    }
    {
        Bson bson;
        BSON_APPEND_DOUBLE(bson.get(), "nan", std::nan(""));
        EXPECT_THROW(to_json(*bson), StoreFailure);
    }
}

TEST(MongoBson, StoredDocumentsCarryIdAndVersionFirst) {
    Bson stored = stored_document("o-1", 3, parse(R"({"status": "paid", "total": 10})"));
    EXPECT_EQ(canonical_json(*stored),
              R"({ "_id" : "o-1", "_version" : { "$numberLong" : "3" }, "status" : "paid", )"
              R"("total" : { "$numberLong" : "10" } })");
    Document back = from_stored(*stored);
    EXPECT_EQ(back.id, "o-1");
    EXPECT_EQ(back.version, 3);
    EXPECT_EQ(back.body, parse(R"({"status": "paid", "total": 10})"));
}

TEST(MongoBson, EmbeddedEventsAreStoredBesideTheBodyAndHiddenFromIt) {
    std::vector<EmbeddedEvent> events = {{"e-1", parse(R"({"type": "olympus.order.created"})")},
                                         {"e-2", parse(R"({"type": "olympus.order.paid"})")}};
    Bson stored = stored_document("o-1", 1, parse(R"({"status": "open"})"), events);
    EXPECT_EQ(relaxed_json(*stored), R"({ "_id" : "o-1", "_version" : 1, "status" : "open", "_outbox" : [ )"
                                     R"({ "id" : "e-1", "body" : { "type" : "olympus.order.created" } }, )"
                                     R"({ "id" : "e-2", "body" : { "type" : "olympus.order.paid" } } ] })");
    EXPECT_EQ(from_stored(*stored).body, parse(R"({"status": "open"})"));
    std::vector<EmbeddedEvent> back = embedded_events(*stored);
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[1].id, "e-2");
    EXPECT_EQ(back[1].body, events[1].body);
    EXPECT_TRUE(embedded_events(*stored_document("o-2", 1, object{})).empty());
}

TEST(MongoBson, AStoredDocumentWithoutIdOrVersionIsRefused) {
    Bson no_version = to_bson(parse(R"({"status": "x"})"));
    BSON_APPEND_UTF8(no_version.get(), "_id", "o-1");
    EXPECT_THROW(from_stored(*no_version), StoreFailure);
    Bson numeric_id;
    BSON_APPEND_INT64(numeric_id.get(), "_id", 5);
    BSON_APPEND_INT64(numeric_id.get(), "_version", 1);
    EXPECT_THROW(from_stored(*numeric_id), StoreFailure);
}

TEST(MongoBson, IdAndVersionFilters) {
    EXPECT_EQ(canonical_json(*id_filter("a'b")), R"({ "_id" : "a'b" })");
    EXPECT_EQ(canonical_json(*version_filter("o-1", 4)),
              R"({ "_id" : "o-1", "_version" : { "$numberLong" : "4" } })");
}

// ---- find ---------------------------------------------------------------------------------------

const CollectionSpec kOrders{"orders",
                             {{"status", FieldType::string},
                              {"created_at", FieldType::string},
                              {"total", FieldType::integer},
                              {"weight", FieldType::number, false, false},
                              {"paid", FieldType::boolean, false, false},
                              {"reference", FieldType::string, true, false},
                              {"email", FieldType::string, true, true}}};

TEST(MongoBson, AFindWithoutConditionsOrCursorMatchesEverything) {
    std::vector<Condition> where;
    FindPlan plan{kOrders, where, nullptr, false, 51, {}};
    EXPECT_EQ(canonical_json(*find_filter(plan)), "{ }");
    EXPECT_EQ(canonical_json(*find_options(plan)),
              R"({ "sort" : { "_id" : { "$numberInt" : "1" } }, "limit" : { "$numberLong" : "51" } })");
}

TEST(MongoBson, ConditionsBecomeExplicitOperatorsUnderAnd) {
    std::vector<Condition> where = {{"status", Op::eq, "paid"},
                                    {"created_at", Op::ge, "2024-01-01"},
                                    {"created_at", Op::lt, "2024-02-01"},
                                    {"total", Op::gt, 10},
                                    {"weight", Op::le, 2.5},
                                    {"paid", Op::eq, true}};
    FindPlan plan{kOrders, where, kOrders.field("created_at"), true, 21, {}};
    EXPECT_EQ(
        canonical_json(*find_filter(plan)),
        R"({ "$and" : [ { "status" : { "$eq" : "paid" } }, { "created_at" : { "$gte" : "2024-01-01" } }, )"
        R"({ "created_at" : { "$lt" : "2024-02-01" } }, { "total" : { "$gt" : { "$numberLong" : "10" } } }, )"
        R"({ "weight" : { "$lte" : { "$numberDouble" : "2.5" } } }, { "paid" : { "$eq" : true } } ] })");
    EXPECT_EQ(canonical_json(*find_options(plan)),
              R"({ "sort" : { "created_at" : { "$numberInt" : "-1" }, "_id" : { "$numberInt" : "-1" } }, )"
              R"("limit" : { "$numberLong" : "21" } })");
}

TEST(MongoBson, TheCursorContinuesStrictlyAfterTheLastKeyAndId) {
    std::vector<Condition> where = {{"status", Op::eq, "paid"}};
    FindPlan ascending{kOrders, where, kOrders.field("created_at"),
                       false,   3,     FindPlan::After{"2024-01-02", "o-7"}};
    EXPECT_EQ(canonical_json(*find_filter(ascending)),
              R"({ "$and" : [ { "status" : { "$eq" : "paid" } }, { "$or" : [ )"
              R"({ "created_at" : { "$gt" : "2024-01-02" } }, )"
              R"({ "created_at" : { "$eq" : "2024-01-02" }, "_id" : { "$gt" : "o-7" } } ] } ] })");

    std::vector<Condition> none;
    FindPlan descending{kOrders, none, kOrders.field("total"), true, 3, FindPlan::After{42, "o-7"}};
    EXPECT_EQ(canonical_json(*find_filter(descending)),
              R"({ "$and" : [ { "$or" : [ { "total" : { "$lt" : { "$numberLong" : "42" } } }, )"
              R"({ "total" : { "$eq" : { "$numberLong" : "42" } }, "_id" : { "$lt" : "o-7" } } ] } ] })");

    FindPlan by_id{kOrders, none, nullptr, false, 3, FindPlan::After{nullptr, "o-7"}};
    EXPECT_EQ(canonical_json(*find_filter(by_id)), R"({ "$and" : [ { "_id" : { "$gt" : "o-7" } } ] })");
}

// A filter value is always a BSON scalar under an explicit operator: a string that looks like an
// operator or a document stays a string.
TEST(MongoBson, HostileFilterValuesStayStrings) {
    std::vector<Condition> where = {{"status", Op::eq, R"({"$gt": ""})"},
                                    {"status", Op::eq, "$where"},
                                    {"status", Op::eq, "'; db.dropDatabase(); '"}};
    FindPlan plan{kOrders, where, nullptr, false, 2, FindPlan::After{nullptr, "$ne"}};
    EXPECT_EQ(
        canonical_json(*find_filter(plan)),
        R"({ "$and" : [ { "status" : { "$eq" : "{\"$gt\": \"\"}" } }, { "status" : { "$eq" : "$where" } }, )"
        R"({ "status" : { "$eq" : "'; db.dropDatabase(); '" } }, { "_id" : { "$gt" : "$ne" } } ] })");
}

// ---- indexes and updates ------------------------------------------------------------------------

TEST(MongoBson, IndexesAreOrderedWithTheIdUniqueWherAskedAndPartialWhenOptional) {
    CollectionSpec spec{"users",
                        {{"email", FieldType::string, true, true},
                         {"reference", FieldType::string, true, false},
                         {"created_at", FieldType::string}}};
    EXPECT_EQ(relaxed_json(*create_indexes_command(spec, false)),
              R"({ "createIndexes" : "users", "indexes" : [ )"
              R"({ "key" : { "email" : 1, "_id" : 1 }, "name" : "ix_email" }, )"
              R"({ "key" : { "email" : 1 }, "name" : "ux_email", "unique" : true }, )"
              R"({ "key" : { "reference" : 1, "_id" : 1 }, "name" : "ix_reference" }, )"
              R"({ "key" : { "reference" : 1 }, "name" : "ux_reference", "unique" : true, )"
              R"("partialFilterExpression" : { "reference" : { "$exists" : true } } }, )"
              R"({ "key" : { "created_at" : 1, "_id" : 1 }, "name" : "ix_created_at" } ] })");
    EXPECT_EQ(index_names(spec, false), (std::vector<std::string>{"ix_email", "ux_email", "ix_reference",
                                                                  "ux_reference", "ix_created_at"}));

    CollectionSpec bare{"events", {}};
    EXPECT_EQ(relaxed_json(*create_indexes_command(bare, true)),
              R"({ "createIndexes" : "events", "indexes" : [ )"
              R"({ "key" : { "_outbox.id" : 1 }, "name" : "outbox_pending", "sparse" : true } ] })");
    EXPECT_EQ(index_names(bare, true), std::vector<std::string>{"outbox_pending"});
}

TEST(MongoBson, AReplaceKeepsWaitingEventsAndQuotesTheBodyLiterally) {
    Bson pipeline = replace_keeping_outbox(5, parse(R"({"status": "$paid", "n": 1})"),
                                           {{"e-9", parse(R"({"type": "t"})")}});
    EXPECT_EQ(relaxed_json(*pipeline),
              R"({ "0" : { "$replaceWith" : { "$mergeObjects" : [ { "_id" : "$_id" }, )"
              R"({ "$literal" : { "_version" : 5, "status" : "$paid", "n" : 1 } }, )"
              R"({ "_outbox" : { "$concatArrays" : [ { "$ifNull" : [ "$_outbox", [  ] ] }, )"
              R"({ "$literal" : [ { "id" : "e-9", "body" : { "type" : "t" } } ] } ] } } ] } }, )"
              R"("1" : { "$set" : { "_outbox" : { "$cond" : [ { "$eq" : [ { "$size" : "$_outbox" }, 0 ] }, )"
              R"("$$REMOVE", "$_outbox" ] } } } })");
    EXPECT_THROW(replace_keeping_outbox(2, parse(R"({"a": {"$bad": 1}})"), {}), InvalidDocument);
}

TEST(MongoBson, MovedEventsArePulledById) {
    EXPECT_EQ(relaxed_json(*pull_events({"e-1", "e-2"})),
              R"({ "$pull" : { "_outbox" : { "id" : { "$in" : [ "e-1", "e-2" ] } } } })");
}

// ---- errors -------------------------------------------------------------------------------------

bson_error_t error_of(std::uint32_t domain, std::uint32_t code, const char* message) {
    bson_error_t error{};
    error.domain = domain;
    error.code = code;
    std::strncpy(error.message, message, sizeof error.message - 1);
    return error;
}

TEST(MongoBson, DuplicateKeyErrorsNameTheFieldFromTheIndex) {
    auto field_of = [](const char* message) {
        try {
            throw_error(error_of(MONGOC_ERROR_SERVER, 11000, message), nullptr, "users", "insert");
        } catch (const DuplicateKey& e) {
            EXPECT_EQ(e.collection(), "users");
            return e.field();
        }
        return std::string("(no DuplicateKey)");
    };
    EXPECT_EQ(
        field_of(
            R"(E11000 duplicate key error collection: db.users index: ux_email dup key: { email: "a" })"),
        "email");
    EXPECT_EQ(
        field_of(R"(E11000 duplicate key error collection: db.users index: _id_ dup key: { _id: "u-1" })"),
        "id");
    EXPECT_EQ(field_of("E11000 duplicate key error"), "id");
}

TEST(MongoBson, NetworkAndRetryableErrorsAreUnavailableOthersAreFailures) {
    EXPECT_THROW(throw_error(error_of(MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET, "socket error"),
                             nullptr, "c", "find"),
                 StoreUnavailable);
    EXPECT_THROW(throw_error(error_of(MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE,
                                      "No suitable servers found"),
                             nullptr, "c", "find"),
                 StoreUnavailable);
    EXPECT_THROW(throw_error(error_of(MONGOC_ERROR_WRITE_CONCERN, 64, "waiting for replication timed out"),
                             nullptr, "c", "insert"),
                 StoreUnavailable);
    EXPECT_THROW(throw_error(error_of(MONGOC_ERROR_SERVER, 10107, "not primary"), nullptr, "c", "insert"),
                 StoreUnavailable);
    EXPECT_THROW(throw_error(error_of(MONGOC_ERROR_SERVER, 2, "BadValue"), nullptr, "c", "insert"),
                 StoreFailure);

    Bson reply = to_bson(parse(R"({"ok": 0, "errorLabels": ["TransientTransactionError"]})"));
    EXPECT_TRUE(is_transient_transaction_error(reply.get()));
    EXPECT_THROW(
        throw_error(error_of(MONGOC_ERROR_SERVER, 251, "NoSuchTransaction"), reply.get(), "c", "insert"),
        StoreUnavailable);
    EXPECT_FALSE(is_transient_transaction_error(nullptr));
    EXPECT_FALSE(is_transient_transaction_error(to_bson(parse(R"({"ok": 0})")).get()));
    try {
        throw_error(error_of(MONGOC_ERROR_SERVER, 2, "BadValue: secret detail"), nullptr, "c", "insert");
    } catch (const StoreFailure& e) {
        // The driver's words go to logs, never to clients.
        EXPECT_EQ(e.detail(), "");
        EXPECT_EQ(e.status(), 500);
        EXPECT_NE(e.diagnostic().find("secret detail"), std::string::npos);
    }
}

}  // namespace
}  // namespace olympus::documents::mongo
