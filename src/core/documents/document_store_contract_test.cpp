// The contract every DocumentStore adapter honours, run against each adapter: SQLite on a file,
// SQLite in memory, and MongoDB when OLYMPUS_TEST_MONGODB_URI names a server.

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "documents/document_store.hpp"
#include "documents/mongo_document_store.hpp"
#include "documents/sqlite_document_store.hpp"
#include "testing/process.hpp"

namespace olympus::documents {
namespace {

using boost::json::object;
using boost::json::value;

// One adapter under test, with whatever it needs (a temp dir, a scratch database) kept alive.
class Subject {
  public:
    virtual ~Subject() = default;
    virtual DocumentStore& store() = 0;
    // False for a MongoDB deployment without transactions: a transaction may then hold one
    // document write plus outbox events (the documented fallback).
    virtual bool multi_document_transactions() const { return true; }
};

class SqliteSubject final : public Subject {
  public:
    explicit SqliteSubject(bool in_memory)
        : store_(SqliteDocumentOptions{.path = in_memory ? ":memory:" : dir_.file("documents.db"),
                                       .readers = 3,
                                       .busy_timeout = std::chrono::milliseconds(5000),
                                       // The contract does not test power loss; skipping fsync keeps it fast.
                                       .sync_every_commit = false}) {}
    DocumentStore& store() override { return store_; }

  private:
    testing::TempDir dir_;
    SqliteDocumentStore store_;
};

// A scratch database on the server named by OLYMPUS_TEST_MONGODB_URI, dropped afterwards.
class MongoSubject final : public Subject {
  public:
    MongoSubject(const std::string& uri, MongoDocumentOptions::Transactions transactions)
        : store_(options(uri, transactions)), multi_document_(store_.multi_document_transactions()) {}
    ~MongoSubject() override {
        try {
            store_.drop_database();
        } catch (const std::exception&) {
            // The test already failed if the server went away.
        }
    }
    DocumentStore& store() override { return store_; }
    bool multi_document_transactions() const override { return multi_document_; }

  private:
    static MongoDocumentOptions options(const std::string& uri,
                                        MongoDocumentOptions::Transactions transactions) {
        static std::atomic<int> counter{0};
        MongoDocumentOptions options;
        options.uri = uri;
        options.database = "olympus_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
        options.transactions = transactions;
        return options;
    }

    MongoDocumentStore store_;
    bool multi_document_;
};

struct Adapter {
    std::string name;
    // Returns nullptr, with the reason in `skip`, when the adapter cannot run here.
    std::function<std::unique_ptr<Subject>(std::string& skip)> open;
};

void PrintTo(const Adapter& adapter, std::ostream* out) {
    *out << adapter.name;
}

std::unique_ptr<Subject> mongo_subject(MongoDocumentOptions::Transactions transactions, std::string& skip) {
    const char* uri = std::getenv("OLYMPUS_TEST_MONGODB_URI");
    if (uri == nullptr || *uri == '\0') {
        skip = "OLYMPUS_TEST_MONGODB_URI not set: MongoDB contract suite skipped";
        return nullptr;
    }
    return std::make_unique<MongoSubject>(uri, transactions);
}

std::vector<Adapter> adapters() {
    return {
        {"SqliteFile", [](std::string&) { return std::make_unique<SqliteSubject>(false); }},
        {"SqliteMemory", [](std::string&) { return std::make_unique<SqliteSubject>(true); }},
        {"MongoDB",
         [](std::string& skip) {
             return mongo_subject(MongoDocumentOptions::Transactions::automatic, skip);
         }},
        // The single-document fallback, forced even on a replica set.
        {"MongoDBFallback",
         [](std::string& skip) { return mongo_subject(MongoDocumentOptions::Transactions::never, skip); }},
    };
}

const CollectionSpec kOrders{"orders",
                             {{"customer_id", FieldType::string},
                              {"status", FieldType::string},
                              {"created_at", FieldType::string},
                              {"total", FieldType::integer},
                              {"reference", FieldType::string, /*unique=*/true, /*required=*/false},
                              {"weight", FieldType::number, false, false},
                              {"paid", FieldType::boolean, false, false}}};
const CollectionSpec kOutbox{"outbox", {{"type", FieldType::string}}};
const CollectionSpec kUsers{"users", {{"email", FieldType::string, /*unique=*/true}}};

object order(std::string customer, std::string created_at, std::int64_t total = 100,
             std::string status = "open") {
    return object{{"customer_id", std::move(customer)},
                  {"status", std::move(status)},
                  {"created_at", std::move(created_at)},
                  {"total", total},
                  {"items", boost::json::array{object{{"sku", "A-1"}, {"quantity", 2}}}}};
}

object event(std::string type, std::string subject) {
    return object{{"type", std::move(type)}, {"subject", std::move(subject)}, {"data", object{}}};
}

class DocumentStoreContract : public ::testing::TestWithParam<Adapter> {
  protected:
    void SetUp() override {
        std::string skip;
        subject_ = GetParam().open(skip);
        if (!subject_) GTEST_SKIP() << skip;
        store().ensure_collection(kOrders);
        store().ensure_collection(kOutbox);
        store().ensure_collection(kUsers);
    }

    DocumentStore& store() { return subject_->store(); }

    std::vector<std::string> ids(const Page& page) {
        std::vector<std::string> out;
        for (const Document& d : page.items) out.push_back(d.id);
        return out;
    }

    std::unique_ptr<Subject> subject_;
};

// ---- single documents ---------------------------------------------------------------------------

TEST_P(DocumentStoreContract, InsertedDocumentIsReadBackAtVersionOne) {
    Document inserted = store().insert("orders", "o-1", order("c-1", "2024-05-01T10:00:00Z"));
    EXPECT_EQ(inserted.version, 1);
    auto read = store().get("orders", "o-1");
    ASSERT_TRUE(read);
    EXPECT_EQ(read->id, "o-1");
    EXPECT_EQ(read->version, 1);
    EXPECT_EQ(read->body, order("c-1", "2024-05-01T10:00:00Z"));
}

TEST_P(DocumentStoreContract, GetOfAnUnknownOrImpossibleIdIsEmpty) {
    EXPECT_FALSE(store().get("orders", "nope"));
    EXPECT_FALSE(store().get("orders", ""));
    EXPECT_FALSE(store().get("orders", std::string(kMaxIdBytes + 1, 'x')));
}

TEST_P(DocumentStoreContract, EveryJsonTypeRoundTripsExactly) {
    object body = boost::json::parse(R"({
        "customer_id": "c", "status": "s", "created_at": "t", "total": 9223372036854775807,
        "min": -9223372036854775808, "zero": 0, "negative": -42, "pi": 3.141592653589793,
        "tiny": 5e-324, "big_double": 1.7976931348623157e308, "whole_double": 2.0,
        "yes": true, "no": false, "nothing": null, "empty_string": "", "empty_object": {}, "empty_array": [],
        "unicode": "héllo 中文 😀 \u0001 \u0000 end", "quote": "\"'\\",
        "nested": {"a": [1, "two", {"three": [3.5, null, false]}], "b": {"c": {"d": {"e": "deep"}}}},
        "ключ": "значение"
    })")
                      .as_object();
    store().insert("orders", "all-types", body);
    auto read = store().get("orders", "all-types");
    ASSERT_TRUE(read);
    EXPECT_EQ(read->body, body);
    // Integers stay integers and doubles stay doubles, so clients see the same JSON back.
    EXPECT_TRUE(read->body.at("total").is_int64());
    EXPECT_TRUE(read->body.at("whole_double").is_double());
    EXPECT_EQ(read->body.at("unicode").as_string().size(), body.at("unicode").as_string().size());
}

TEST_P(DocumentStoreContract, ReplaceWithTheCurrentVersionBumpsIt) {
    store().insert("orders", "o-1", order("c-1", "t1"));
    Document replaced = store().replace("orders", "o-1", order("c-1", "t1", 250, "paid"), 1);
    EXPECT_EQ(replaced.version, 2);
    auto read = store().get("orders", "o-1");
    ASSERT_TRUE(read);
    EXPECT_EQ(read->version, 2);
    EXPECT_EQ(read->body.at("status"), "paid");
    EXPECT_EQ(store().replace("orders", "o-1", order("c-1", "t1", 300, "shipped"), 2).version, 3);
}

TEST_P(DocumentStoreContract, ReplaceWithAStaleVersionIsAConflictAndChangesNothing) {
    store().insert("orders", "o-1", order("c-1", "t1"));
    store().replace("orders", "o-1", order("c-1", "t1", 200, "paid"), 1);
    try {
        store().replace("orders", "o-1", order("c-1", "t1", 999, "cancelled"), 1);
        FAIL() << "stale replace succeeded";
    } catch (const VersionConflict& e) {
        EXPECT_EQ(e.expected(), 1);
        EXPECT_EQ(e.actual(), 2);
        EXPECT_EQ(e.status(), 409);
    }
    auto read = store().get("orders", "o-1");
    EXPECT_EQ(read->version, 2);
    EXPECT_EQ(read->body.at("status"), "paid");
}

TEST_P(DocumentStoreContract, ReplaceOfAMissingDocumentIsNotFound) {
    EXPECT_THROW(store().replace("orders", "ghost", order("c", "t"), 1), DocumentNotFound);
}

TEST_P(DocumentStoreContract, RemoveDeletesAndReportsWhetherThereWasADocument) {
    store().insert("orders", "o-1", order("c-1", "t1"));
    EXPECT_TRUE(store().remove("orders", "o-1"));
    EXPECT_FALSE(store().get("orders", "o-1"));
    EXPECT_FALSE(store().remove("orders", "o-1"));
    // The id is free again.
    EXPECT_EQ(store().insert("orders", "o-1", order("c-1", "t1")).version, 1);
}

TEST_P(DocumentStoreContract, RemoveWithAVersionChecksIt) {
    store().insert("orders", "o-1", order("c-1", "t1"));
    store().replace("orders", "o-1", order("c-1", "t1", 5), 1);
    EXPECT_THROW(store().remove("orders", "o-1", 1), VersionConflict);
    EXPECT_TRUE(store().get("orders", "o-1"));
    EXPECT_TRUE(store().remove("orders", "o-1", 2));
    EXPECT_FALSE(store().remove("orders", "o-1", 2));
}

TEST_P(DocumentStoreContract, InsertingATakenIdIsADuplicateKeyOnId) {
    store().insert("orders", "o-1", order("c-1", "t1"));
    try {
        store().insert("orders", "o-1", order("c-2", "t2"));
        FAIL() << "duplicate id accepted";
    } catch (const DuplicateKey& e) {
        EXPECT_EQ(e.field(), "id");
        EXPECT_EQ(e.collection(), "orders");
        EXPECT_EQ(e.status(), 409);
    }
    EXPECT_EQ(store().get("orders", "o-1")->body.at("customer_id"), "c-1");
}

TEST_P(DocumentStoreContract, UniqueFieldViolationsAreDuplicateKeysNamingTheField) {
    store().insert("users", "u-1", object{{"email", "a@example.com"}});
    store().insert("users", "u-2", object{{"email", "b@example.com"}});
    try {
        store().insert("users", "u-3", object{{"email", "a@example.com"}});
        FAIL() << "duplicate email accepted on insert";
    } catch (const DuplicateKey& e) {
        EXPECT_EQ(e.field(), "email");
        EXPECT_EQ(e.collection(), "users");
    }
    try {
        store().replace("users", "u-2", object{{"email", "a@example.com"}}, 1);
        FAIL() << "duplicate email accepted on replace";
    } catch (const DuplicateKey& e) {
        EXPECT_EQ(e.field(), "email");
    }
    EXPECT_EQ(store().get("users", "u-2")->version, 1);
    EXPECT_FALSE(store().get("users", "u-3"));
}

TEST_P(DocumentStoreContract, AnOptionalUniqueFieldMayBeAbsentFromManyDocuments) {
    store().insert("orders", "o-1", order("c", "t"));
    store().insert("orders", "o-2", order("c", "t"));
    object with_reference = order("c", "t");
    with_reference["reference"] = "R-1";
    store().insert("orders", "o-3", with_reference);
    EXPECT_THROW(store().insert("orders", "o-4", with_reference), DuplicateKey);
}

TEST_P(DocumentStoreContract, IndexedFieldsMustHaveTheirDeclaredType) {
    object missing = order("c", "t");
    missing.erase("created_at");
    EXPECT_THROW(store().insert("orders", "o-1", missing), InvalidDocument);
    object wrong = order("c", "t");
    wrong["total"] = "100";
    EXPECT_THROW(store().insert("orders", "o-1", wrong), InvalidDocument);
    wrong["total"] = 100.5;
    EXPECT_THROW(store().insert("orders", "o-1", wrong), InvalidDocument);
    object null_optional = order("c", "t");
    null_optional["paid"] = nullptr;
    EXPECT_THROW(store().insert("orders", "o-1", null_optional), InvalidDocument);
    object number_ok = order("c", "t");
    number_ok["weight"] = 1;
    store().insert("orders", "o-1", number_ok);
    number_ok["weight"] = 1.25;
    store().insert("orders", "o-2", number_ok);
    EXPECT_FALSE(store().get("orders", "o-3"));
}

TEST_P(DocumentStoreContract, MemberNamesTheStoreCannotHoldAreRejected) {
    auto rejected = [&](const char* json) {
        object body = order("c", "t");
        boost::json::value extra = boost::json::parse(json);
        for (auto& m : extra.as_object()) body[m.key()] = m.value();
        try {
            store().insert("orders", "x", body);
            return false;
        } catch (const InvalidDocument& e) {
            EXPECT_EQ(e.status(), 422);
            return true;
        }
    };
    EXPECT_TRUE(rejected(R"({"_id": "other"})"));
    EXPECT_TRUE(rejected(R"({"_version": 7})"));
    EXPECT_TRUE(rejected(R"({"a.b": 1})"));
    EXPECT_TRUE(rejected(R"({"nested": {"x.y": 1}})"));
    EXPECT_TRUE(rejected(R"({"$where": "1"})"));
    EXPECT_TRUE(rejected(R"({"nested": [{"$gt": ""}]})"));
    EXPECT_TRUE(rejected(R"({"": 1})"));
    EXPECT_TRUE(rejected(R"({"big": 9223372036854775808})"));
    EXPECT_TRUE(rejected(R"({"nested": {"_ok_inside": true, "bad.": 1}})"));
    EXPECT_FALSE(store().get("orders", "x"));
    // Underscores and dollars elsewhere are fine.
    EXPECT_FALSE(rejected(R"({"nested": {"_private": 1, "price$": 2}, "a_b": "$x.y"})"));
}

TEST_P(DocumentStoreContract, InvalidIdsAreRejectedOnInsert) {
    EXPECT_THROW(store().insert("orders", "", order("c", "t")), InvalidDocument);
    EXPECT_THROW(store().insert("orders", std::string(kMaxIdBytes + 1, 'x'), order("c", "t")),
                 InvalidDocument);
    EXPECT_THROW(store().insert("orders", std::string("a\0b", 3), order("c", "t")), InvalidDocument);
    EXPECT_THROW(store().insert("orders", "\xff\xfe", order("c", "t")), InvalidDocument);
    EXPECT_EQ(store().insert("orders", std::string(kMaxIdBytes, 'x'), order("c", "t")).version, 1);
}

// ---- names --------------------------------------------------------------------------------------

TEST_P(DocumentStoreContract, MalformedCollectionAndFieldNamesAreRejected) {
    for (const std::string& name :
         std::vector<std::string>{"", "Orders", "1orders", "or-ders", "orders;drop", "orders\"", "ordérs",
                                  "a b", std::string(kMaxNameLength + 1, 'a')}) {
        EXPECT_THROW(store().ensure_collection({name, {}}), InvalidName) << name;
        EXPECT_THROW(store().get(name, "x"), InvalidName) << name;
    }
    for (const std::string& field : std::vector<std::string>{"", "_id", "_version", "Status", "st.atus",
                                                             "st$", "9lives", "a-b", "x')--"}) {
        EXPECT_THROW(store().ensure_collection({"things", {{field, FieldType::string}}}), InvalidName)
            << field;
    }
    EXPECT_THROW(store().ensure_collection({"things", {{"a", FieldType::string}, {"a", FieldType::integer}}}),
                 InvalidName);
    EXPECT_THROW(store().get("undeclared", "x"), InvalidName);
    EXPECT_THROW(store().insert("things", "x", object{}), InvalidName);
    store().ensure_collection({"_things_2", {{"a_1", FieldType::string}}});
    EXPECT_EQ(store().insert("_things_2", "x", object{{"a_1", "v"}}).version, 1);
}

TEST_P(DocumentStoreContract, EnsureCollectionIsIdempotentAndCanAddAnIndexLater) {
    store().insert("orders", "o-1", order("c-1", "t1"));
    store().ensure_collection(kOrders);
    EXPECT_TRUE(store().get("orders", "o-1"));

    CollectionSpec grown = kOrders;
    grown.fields.push_back({"channel", FieldType::string, false, false});
    store().insert("orders", "o-2", [] {
        object o = order("c-1", "t2");
        o["channel"] = "web";
        return o;
    }());
    store().ensure_collection(grown);
    Page page = store().find("orders", Query().filter("channel", Op::eq, "web"));
    EXPECT_EQ(ids(page), std::vector<std::string>{"o-2"});
}

TEST_P(DocumentStoreContract, DroppingUniquenessFromASpecAllowsDuplicates) {
    store().ensure_collection({"tags", {{"label", FieldType::string, true}}});
    store().insert("tags", "t-1", object{{"label", "x"}});
    EXPECT_THROW(store().insert("tags", "t-2", object{{"label", "x"}}), DuplicateKey);
    store().ensure_collection({"tags", {{"label", FieldType::string, false}}});
    EXPECT_EQ(store().insert("tags", "t-2", object{{"label", "x"}}).version, 1);
}

// ---- queries ------------------------------------------------------------------------------------

TEST_P(DocumentStoreContract, FindFiltersOnEqualityAndRanges) {
    store().insert("orders", "a", order("c-1", "2024-01-01", 10, "open"));
    store().insert("orders", "b", order("c-1", "2024-01-02", 20, "paid"));
    store().insert("orders", "c", order("c-1", "2024-01-03", 30, "paid"));
    store().insert("orders", "d", order("c-2", "2024-01-04", 40, "paid"));
    store().insert("orders", "e", order("c-1", "2024-01-05", 50, "paid"));

    auto find = [&](std::vector<Condition> where) {
        Query query;
        query.where = std::move(where);
        return ids(store().find("orders", query.order("created_at")));
    };
    using V = std::vector<std::string>;
    EXPECT_EQ(find({{"customer_id", Op::eq, "c-1"}}), (V{"a", "b", "c", "e"}));
    EXPECT_EQ(find({{"customer_id", Op::eq, "c-1"}, {"status", Op::eq, "paid"}}), (V{"b", "c", "e"}));
    EXPECT_EQ(find({{"created_at", Op::ge, "2024-01-02"}, {"created_at", Op::lt, "2024-01-05"}}),
              (V{"b", "c", "d"}));
    EXPECT_EQ(find({{"created_at", Op::gt, "2024-01-02"}, {"created_at", Op::le, "2024-01-04"}}),
              (V{"c", "d"}));
    EXPECT_EQ(find({{"total", Op::gt, 25}, {"status", Op::eq, "paid"}}), (V{"c", "d", "e"}));
    EXPECT_EQ(find({{"customer_id", Op::eq, "c-3"}}), V{});
    EXPECT_EQ(find({}), (V{"a", "b", "c", "d", "e"}));
}

TEST_P(DocumentStoreContract, FindComparesNumbersNumericallyAndBooleansByValue) {
    auto with = [](const char* id, double weight, bool paid) {
        object o = order("c", id);
        o["weight"] = weight;
        o["paid"] = paid;
        return o;
    };
    store().insert("orders", "w1", with("w1", 1.5, true));
    store().insert("orders", "w2", with("w2", 10, false));
    object integer_weight = order("c", "w3");
    integer_weight["weight"] = 2;
    integer_weight["paid"] = true;
    store().insert("orders", "w3", integer_weight);
    store().insert("orders", "w4", order("c", "w4"));  // neither field

    using V = std::vector<std::string>;
    auto find = [&](std::vector<Condition> where) {
        Query query;
        query.where = std::move(where);
        return ids(store().find("orders", query));
    };
    EXPECT_EQ(find({{"weight", Op::gt, 1.9}}), (V{"w2", "w3"}));
    EXPECT_EQ(find({{"weight", Op::ge, 2}}), (V{"w2", "w3"}));
    EXPECT_EQ(find({{"weight", Op::eq, 10.0}}), V{"w2"});
    EXPECT_EQ(find({{"paid", Op::eq, true}}), (V{"w1", "w3"}));
    EXPECT_EQ(find({{"paid", Op::eq, false}}), V{"w2"});
}

TEST_P(DocumentStoreContract, FindSortsBothWaysWithTheIdBreakingTies) {
    store().insert("orders", "b", order("c", "2024-01-02"));
    store().insert("orders", "a", order("c", "2024-01-02"));
    store().insert("orders", "c", order("c", "2024-01-01"));
    store().insert("orders", "d", order("c", "2024-01-03"));
    using V = std::vector<std::string>;
    EXPECT_EQ(ids(store().find("orders", Query().order("created_at"))), (V{"c", "a", "b", "d"}));
    EXPECT_EQ(ids(store().find("orders", Query().order("created_at", Direction::descending))),
              (V{"d", "b", "a", "c"}));
    EXPECT_EQ(ids(store().find("orders", {})), (V{"a", "b", "c", "d"}));
    EXPECT_EQ(ids(store().find("orders", Query().descending())), (V{"d", "c", "b", "a"}));
    EXPECT_EQ(ids(store().find("orders", Query().order("total", Direction::descending))),
              (V{"d", "c", "b", "a"}));
}

TEST_P(DocumentStoreContract, FindPagesWithACursorAndSaysWhenItIsDone) {
    for (int i = 0; i < 5; ++i) store().insert("orders", "o-" + std::to_string(i), order("c", "t", i));
    Query query = Query().order("total").take(2);
    Page first = store().find("orders", query);
    EXPECT_EQ(ids(first), (std::vector<std::string>{"o-0", "o-1"}));
    ASSERT_TRUE(first.next_cursor);
    query.cursor = *first.next_cursor;
    Page second = store().find("orders", query);
    EXPECT_EQ(ids(second), (std::vector<std::string>{"o-2", "o-3"}));
    ASSERT_TRUE(second.next_cursor);
    query.cursor = *second.next_cursor;
    Page last = store().find("orders", query);
    EXPECT_EQ(ids(last), std::vector<std::string>{"o-4"});
    EXPECT_FALSE(last.next_cursor);

    // A page that ends exactly at the last document says so.
    Page all = store().find("orders", Query().take(5));
    EXPECT_EQ(all.items.size(), 5u);
    EXPECT_FALSE(all.next_cursor);
}

// The heart of keyset pagination: documents inserted while a client pages (before, at and after its
// position, with many equal sort keys) never make one that existed when it started appear twice or
// go missing.
TEST_P(DocumentStoreContract, CursorPagesNeitherSkipNorRepeatWhileOthersInsert) {
    const std::vector<std::string> days = {"2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"};
    std::mt19937 random(7);
    std::set<std::string> initial;
    for (int i = 0; i < 40; ++i) {
        std::string id = "o-" + std::to_string(random() % 100000) + "-" + std::to_string(i);
        std::string customer = i % 4 == 3 ? "c-2" : "c-1";
        store().insert("orders", id, order(customer, days[random() % days.size()], i));
        if (customer == "c-1") initial.insert(id);
    }

    for (Direction direction : {Direction::ascending, Direction::descending}) {
        // The writer inserts a bounded number of documents (so that the pages reach an end), spread
        // over the whole key range, while the reader pages.
        constexpr int kConcurrentInserts = 60;
        std::atomic<int> inserted{0};
        std::atomic<bool> writer_done{false};
        std::exception_ptr writer_error;
        std::thread writer([&, direction] {
            try {
                std::mt19937 r(direction == Direction::ascending ? 11 : 13);
                for (int n = 0; n < kConcurrentInserts; ++n) {
                    std::string id = (n % 2 ? "a-" : "z-") + std::to_string(static_cast<int>(direction)) +
                                     "-" + std::to_string(n);
                    store().insert("orders", id, order("c-1", days[r() % days.size()], 1000 + n));
                    ++inserted;
                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                }
            } catch (...) {
                writer_error = std::current_exception();
            }
            writer_done = true;
        });

        Query query = Query().filter("customer_id", Op::eq, "c-1").order("created_at", direction).take(7);
        std::vector<std::pair<std::string, std::string>> seen;  // (created_at, id)
        for (int pages = 0; pages < 100; ++pages) {
            // Let the writer get some inserts in between every two pages.
            for (int before = inserted.load(); inserted.load() < before + 2 && !writer_done;) {
                std::this_thread::yield();
            }
            Page page = store().find("orders", query);
            for (const Document& d : page.items) {
                EXPECT_EQ(d.body.at("customer_id"), "c-1");
                seen.emplace_back(std::string(d.body.at("created_at").as_string()), d.id);
            }
            if (!page.next_cursor) break;
            query.cursor = *page.next_cursor;
        }
        writer.join();
        if (writer_error) std::rethrow_exception(writer_error);
        EXPECT_GT(inserted.load(), 10);

        std::multiset<std::string> seen_ids;
        for (const auto& item : seen) seen_ids.insert(item.second);
        for (const std::string& id : seen_ids) EXPECT_EQ(seen_ids.count(id), 1u) << id << " repeated";
        for (const std::string& id : initial) EXPECT_EQ(seen_ids.count(id), 1u) << id << " skipped";
        for (std::size_t i = 1; i < seen.size(); ++i) {
            if (direction == Direction::ascending) {
                EXPECT_LT(seen[i - 1], seen[i]);
            } else {
                EXPECT_GT(seen[i - 1], seen[i]);
            }
        }
    }
}

TEST_P(DocumentStoreContract, QueriesTheCollectionCannotAnswerAreRejected) {
    store().insert("orders", "o-1", order("c", "t"));
    auto bad = [&](Query query) {
        try {
            store().find("orders", query);
            return false;
        } catch (const InvalidQuery& e) {
            EXPECT_EQ(e.status(), 400);
            return true;
        }
    };
    EXPECT_TRUE(bad(Query().filter("items", Op::eq, "x")));              // not indexed
    EXPECT_TRUE(bad(Query().filter("customer_id; DROP", Op::eq, "x")));  // not even a name
    EXPECT_TRUE(bad(Query().filter("total", Op::eq, "100")));            // wrong type
    EXPECT_TRUE(bad(Query().filter("customer_id", Op::eq, nullptr)));    // null never matches a type
    EXPECT_TRUE(bad(Query().filter("total", Op::eq, 1.5)));              // integer field
    EXPECT_TRUE(bad(Query().order("reference")));                        // optional: cannot sort
    EXPECT_TRUE(bad(Query().order("items")));
    EXPECT_TRUE(bad(Query().take(0)));
    EXPECT_TRUE(bad(Query().take(kMaxPageSize + 1)));
    EXPECT_TRUE(bad(Query().after("not a cursor")));
    EXPECT_TRUE(bad(Query().after("bm90IGpzb24")));  // base64url of "not json"
    EXPECT_THROW(store().find("nothing", {}), InvalidName);
    EXPECT_EQ(store().find("orders", Query().take(kMaxPageSize)).items.size(), 1u);
}

TEST_P(DocumentStoreContract, ACursorOnlyContinuesTheQueryThatMadeIt) {
    for (int i = 0; i < 3; ++i) store().insert("orders", "o-" + std::to_string(i), order("c", "t", i));
    Page by_total = store().find("orders", Query().order("total").take(1));
    ASSERT_TRUE(by_total.next_cursor);
    EXPECT_THROW(store().find("orders", Query().order("created_at").after(*by_total.next_cursor)),
                 InvalidQuery);
    EXPECT_THROW(
        store().find("orders", Query().order("total", Direction::descending).after(*by_total.next_cursor)),
        InvalidQuery);
    EXPECT_THROW(store().find("orders", Query().after(*by_total.next_cursor)), InvalidQuery);
    // A forged cursor whose key has the wrong type for the field.
    EXPECT_THROW(store().find("orders", Query().order("total").after(
                                            encode_cursor("total", Direction::ascending, "text", "o-1"))),
                 InvalidQuery);
    EXPECT_EQ(store().find("orders", Query().order("total").after(*by_total.next_cursor)).items.size(), 2u);
}

// Values never become SQL or query operators: they are stored and compared byte for byte.
TEST_P(DocumentStoreContract, HostileStringsAreStoredAndComparedVerbatim) {
    const std::vector<std::string> hostile = {
        "'; DROP TABLE doc_orders; --",
        "\" OR \"1\"=\"1",
        "x' OR '1'='1",
        "Robert'); DELETE FROM doc_orders WHERE ('1'='1",
        "{\"$gt\": \"\"}",
        "$gt",
        "$where",
        "%",
        "_",
        "\\",
        "*",
        ".*",
        "c-1' --",
        "json_extract(doc, '$.x')",
        "h\u00e9llo \u4e2d \U0001F600",
    };
    store().insert("orders", "plain", order("c-1", "t"));
    for (const std::string& text : hostile) {
        object body = order(text, text);
        body["note"] = text;
        store().insert("orders", text, body);
    }
    for (std::size_t i = 0; i < hostile.size(); ++i) {
        const std::string& id = hostile[i];
        auto read = store().get("orders", id);
        ASSERT_TRUE(read) << i;
        EXPECT_EQ(read->body.at("note").as_string(), hostile[i]) << i;
        Page page =
            store().find("orders", Query().filter("customer_id", Op::eq, boost::json::string(hostile[i])));
        ASSERT_EQ(page.items.size(), 1u) << i;
        EXPECT_EQ(page.items[0].id, id);
        Page ranged =
            store().find("orders", Query()
                                       .filter("created_at", Op::ge, boost::json::string(hostile[i]))
                                       .filter("created_at", Op::le, boost::json::string(hostile[i])));
        EXPECT_EQ(ids(ranged), std::vector<std::string>{id}) << i;
    }
    EXPECT_EQ(store().find("orders", Query().take(100)).items.size(), hostile.size() + 1);
    EXPECT_TRUE(store().remove("orders", hostile[0]));
    EXPECT_TRUE(store().get("orders", "plain"));
}

// NUL may sit in any string except an indexed one (SQLite's json_extract() stops at it), so both
// adapters refuse it there rather than compare it differently.
TEST_P(DocumentStoreContract, NulIsKeptInPlainStringsAndRefusedInIndexedOnes) {
    const std::string with_nul("nul\0inside", 11);
    object body = order("c-1", "t");
    body["note"] = boost::json::string(with_nul);
    store().insert("orders", "n-1", body);
    EXPECT_EQ(store().get("orders", "n-1")->body.at("note").as_string(), with_nul);
    EXPECT_THROW(store().insert("orders", "n-2", order(with_nul, "t")), InvalidDocument);
    EXPECT_THROW(store().find("orders", Query().filter("customer_id", Op::eq, boost::json::string(with_nul))),
                 InvalidQuery);
}

// ---- transactions -------------------------------------------------------------------------------

TEST_P(DocumentStoreContract, ATransactionCommitsTheDocumentAndItsOutboxEventTogether) {
    std::int64_t version = store().transaction([&](DocumentTransaction& tx) {
        tx.insert("orders", "o-1", order("c-1", "t1"));
        tx.insert("outbox", "e-1", event("olympus.order.created", "o-1"));
        return tx.get("orders", "o-1")->version;
    });
    EXPECT_EQ(version, 1);
    EXPECT_TRUE(store().get("orders", "o-1"));
    auto e = store().get("outbox", "e-1");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->body.at("subject"), "o-1");

    store().transaction([&](DocumentTransaction& tx) {
        auto current = tx.get("orders", "o-1");
        tx.replace("orders", "o-1", order("c-1", "t1", 100, "paid"), current->version);
        tx.insert("outbox", "e-2", event("olympus.order.status_changed", "o-1"));
    });
    EXPECT_EQ(store().get("orders", "o-1")->version, 2);
    EXPECT_TRUE(store().get("outbox", "e-2"));
}

TEST_P(DocumentStoreContract, AnExceptionInATransactionLeavesNothingWritten) {
    store().insert("orders", "o-1", order("c-1", "t1"));
    EXPECT_THROW(store().transaction([&](DocumentTransaction& tx) {
        tx.replace("orders", "o-1", order("c-1", "t1", 999, "cancelled"), 1);
        tx.insert("outbox", "e-1", event("olympus.order.status_changed", "o-1"));
        throw std::runtime_error("the domain changed its mind");
    }),
                 std::runtime_error);
    auto read = store().get("orders", "o-1");
    EXPECT_EQ(read->version, 1);
    EXPECT_EQ(read->body.at("status"), "open");
    EXPECT_FALSE(store().get("outbox", "e-1"));

    // A store error half-way (the outbox event's id is taken) undoes the document write too.
    store().insert("outbox", "e-taken", event("x", "y"));
    EXPECT_THROW(store().transaction([&](DocumentTransaction& tx) {
        tx.insert("orders", "o-2", order("c-1", "t2"));
        tx.insert("outbox", "e-taken", event("olympus.order.created", "o-2"));
    }),
                 DuplicateKey);
    EXPECT_FALSE(store().get("orders", "o-2"));
    EXPECT_EQ(store().get("outbox", "e-taken")->body.at("type"), "x");
}

TEST_P(DocumentStoreContract, AVersionConflictInATransactionRollsItBack) {
    store().insert("orders", "o-1", order("c-1", "t1"));
    store().replace("orders", "o-1", order("c-1", "t1", 2), 1);
    EXPECT_THROW(store().transaction([&](DocumentTransaction& tx) {
        tx.insert("outbox", "e-1", event("olympus.order.status_changed", "o-1"));
        tx.replace("orders", "o-1", order("c-1", "t1", 3), 1);
    }),
                 VersionConflict);
    EXPECT_FALSE(store().get("outbox", "e-1"));
    EXPECT_EQ(store().get("orders", "o-1")->version, 2);
}

TEST_P(DocumentStoreContract, ATransactionOverSeveralDocumentsIsAllOrNothing) {
    if (!subject_->multi_document_transactions())
        GTEST_SKIP() << "deployment without multi-document transactions";
    store().insert("orders", "o-1", order("c-1", "t1"));
    store().insert("orders", "o-2", order("c-1", "t2"));
    EXPECT_THROW(store().transaction([&](DocumentTransaction& tx) {
        tx.replace("orders", "o-1", order("c-1", "t1", 1, "merged"), 1);
        EXPECT_TRUE(tx.remove("orders", "o-2"));
        EXPECT_FALSE(tx.get("orders", "o-2"));
        tx.insert("orders", "o-3", order("c-1", "t3"));
        tx.insert("outbox", "e-1", event("olympus.order.merged", "o-1"));
        throw std::runtime_error("abort");
    }),
                 std::runtime_error);
    EXPECT_EQ(store().get("orders", "o-1")->version, 1);
    EXPECT_TRUE(store().get("orders", "o-2"));
    EXPECT_FALSE(store().get("orders", "o-3"));
    EXPECT_FALSE(store().get("outbox", "e-1"));

    store().transaction([&](DocumentTransaction& tx) {
        tx.replace("orders", "o-1", order("c-1", "t1", 1, "merged"), 1);
        tx.remove("orders", "o-2", 1);
        tx.insert("orders", "o-3", order("c-1", "t3"));
        tx.insert("outbox", "e-1", event("olympus.order.merged", "o-1"));
    });
    EXPECT_EQ(store().get("orders", "o-1")->version, 2);
    EXPECT_FALSE(store().get("orders", "o-2"));
    EXPECT_TRUE(store().get("orders", "o-3"));
    EXPECT_TRUE(store().get("outbox", "e-1"));
}

// Optimistic concurrency under contention: read-modify-write loops that retry on VersionConflict
// lose no update.
TEST_P(DocumentStoreContract, ConcurrentReadModifyWriteLosesNoUpdate) {
    store().insert("orders", "counter", order("c", "t", 0));
    constexpr int kThreads = 4;
    constexpr int kIncrements = 15;
    std::atomic<int> conflicts{0};
    std::vector<std::thread> threads;
    std::vector<std::exception_ptr> errors(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            try {
                for (int i = 0; i < kIncrements; ++i) {
                    for (;;) {
                        Document current = *store().get("orders", "counter");
                        object next = current.body;
                        next["total"] = current.body.at("total").as_int64() + 1;
                        try {
                            store().replace("orders", "counter", next, current.version);
                            break;
                        } catch (const VersionConflict&) {
                            ++conflicts;
                        }
                    }
                }
            } catch (...) {
                errors[t] = std::current_exception();
            }
        });
    }
    for (auto& thread : threads) thread.join();
    for (auto& error : errors) {
        if (error) std::rethrow_exception(error);
    }
    Document final_state = *store().get("orders", "counter");
    EXPECT_EQ(final_state.body.at("total").as_int64(), kThreads * kIncrements);
    EXPECT_EQ(final_state.version, 1 + kThreads * kIncrements);
}

INSTANTIATE_TEST_SUITE_P(Adapters, DocumentStoreContract, ::testing::ValuesIn(adapters()),
                         [](const ::testing::TestParamInfo<Adapter>& param_info) {
                             return param_info.param.name;
                         });

}  // namespace
}  // namespace olympus::documents
