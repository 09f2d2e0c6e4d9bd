#include "documents/open_document_store.hpp"

#include <filesystem>
#include <stdexcept>

#include <gtest/gtest.h>

#include "documents/mongo_document_store.hpp"
#include "documents/sqlite_document_store.hpp"
#include "testing/process.hpp"

namespace olympus::documents {
namespace {

TEST(OpenDocumentStore, SqliteUrlsOpenTheEmbeddedStore) {
    testing::TempDir dir;
    std::string path = dir.file("poseidon.db");
    auto store = open_document_store("sqlite://" + path + "?readers=2&busy_timeout_ms=100");
    ASSERT_NE(dynamic_cast<SqliteDocumentStore*>(store.get()), nullptr);
    store->ensure_collection({"orders", {{"status", FieldType::string}}});
    store->insert("orders", "o-1", {{"status", "open"}});
    EXPECT_TRUE(std::filesystem::exists(path));

    auto memory = open_document_store("sqlite::memory:");
    memory->ensure_collection({"orders", {}});
    EXPECT_EQ(memory->insert("orders", "o-1", {}).version, 1);
}

TEST(OpenDocumentStore, MongoUrlsMakeAStoreWithoutConnecting) {
    auto store = open_document_store("mongodb://127.0.0.1:1/poseidon?serverSelectionTimeoutMS=100");
    EXPECT_NE(dynamic_cast<MongoDocumentStore*>(store.get()), nullptr);
}

TEST(OpenDocumentStore, BadUrlsNameTheProblemWithoutTheirSecrets) {
    for (const char* url : {"postgres://u:s3cret@host/db", "mongodb://u:s3cret@host:99999999/db",
                            "sqlite:", "sqlite:///x.db?unknown=1", ""}) {
        try {
            open_document_store(url);
            FAIL() << "accepted " << url;
        } catch (const std::invalid_argument& e) {
            EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
        }
    }
}

}  // namespace
}  // namespace olympus::documents
