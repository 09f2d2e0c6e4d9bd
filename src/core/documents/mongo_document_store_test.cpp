// The MongoDB adapter where no server is needed: configuration errors and an unreachable server.
// Everything that needs a server is in the contract suite (OLYMPUS_TEST_MONGODB_URI).

#include "documents/mongo_document_store.hpp"

#include <chrono>

#include <gtest/gtest.h>

#include "testing/process.hpp"

namespace olympus::documents {
namespace {

MongoDocumentOptions options_for(std::string uri) {
    MongoDocumentOptions options;
    options.uri = std::move(uri);
    return options;
}

TEST(MongoDocumentStore, AMalformedUriFailsWithoutQuotingItsSecret) {
    for (const char* uri : {"mongodb://olympus:s3cret@localhost:99999999/orders",
                            "http://olympus:s3cret@localhost/", "mongodb://olympus:s3cret@"}) {
        try {
            MongoDocumentStore store(options_for(uri));
            FAIL() << "accepted " << uri;
        } catch (const StoreFailure& e) {
            EXPECT_EQ(std::string(e.diagnostic()).find("s3cret"), std::string::npos) << e.diagnostic();
            EXPECT_EQ(e.detail(), "");
        }
    }
}

// Nothing listens on the port: calls fail with 503 within the configured server selection timeout
// (the driver's own default would be 30 s), and the readiness ping says false.
TEST(MongoDocumentStore, AnUnreachableServerIsUnavailableQuickly) {
    std::uint16_t port = testing::free_port();
    MongoDocumentOptions options =
        options_for("mongodb://127.0.0.1:" + std::to_string(port) + "/?connectTimeoutMS=200");
    options.server_selection_timeout = std::chrono::milliseconds(300);
    MongoDocumentStore store(options);

    auto started = std::chrono::steady_clock::now();
    EXPECT_FALSE(store.ping());
    try {
        store.ensure_collection({"orders", {{"status", FieldType::string}}});
        FAIL() << "ensure_collection succeeded without a server";
    } catch (const StoreUnavailable& e) {
        EXPECT_EQ(e.status(), 503);
    }
    EXPECT_THROW(store.multi_document_transactions(), StoreUnavailable);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
    // The collection was not declared, since ensuring it failed.
    EXPECT_THROW(store.get("orders", "o-1"), InvalidName);
}

// With the fallback chosen by configuration, nothing asks the server whether it has transactions.
TEST(MongoDocumentStore, ConfiguredTransactionModesNeedNoServerToBeKnown) {
    std::uint16_t port = testing::free_port();
    MongoDocumentOptions options = options_for("mongodb://127.0.0.1:" + std::to_string(port) +
                                               "/?serverSelectionTimeoutMS=200&connectTimeoutMS=200");
    options.transactions = MongoDocumentOptions::Transactions::never;
    MongoDocumentStore fallback(options);
    EXPECT_FALSE(fallback.multi_document_transactions());
    options.transactions = MongoDocumentOptions::Transactions::required;
    MongoDocumentStore required(options);
    EXPECT_TRUE(required.multi_document_transactions());
    EXPECT_EQ(required.move_embedded_events(), 0u);
}

}  // namespace
}  // namespace olympus::documents
