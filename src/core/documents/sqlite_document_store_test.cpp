// What the SQLite adapter promises beyond the contract: its schema, WAL with readers that do not
// wait for the writer, lock timeouts as 503, and durability across a reopen.

#include "documents/sqlite_document_store.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "testing/process.hpp"

namespace olympus::documents {
namespace {

using boost::json::object;

const CollectionSpec kOrders{"orders",
                             {{"customer_id", FieldType::string},
                              {"created_at", FieldType::string},
                              {"reference", FieldType::string, true, false}}};

SqliteDocumentOptions options_for(const std::string& path) {
    SqliteDocumentOptions options;
    options.path = path;
    options.readers = 2;
    options.sync_every_commit = false;
    return options;
}

object order(const char* customer, const char* created_at) {
    return object{{"customer_id", customer}, {"created_at", created_at}};
}

// A second, raw connection to the same file, as another process would have.
class RawConnection {
  public:
    explicit RawConnection(const std::string& path) {
        if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open");
    }
    ~RawConnection() { sqlite3_close(db_); }
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    int exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
    std::vector<std::string> column(const std::string& sql, int index = 0) {
        sqlite3_stmt* stmt = nullptr;
        std::vector<std::string> out;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
            throw std::runtime_error(sqlite3_errmsg(db_));
        }
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            const unsigned char* text = sqlite3_column_text(stmt, index);
            out.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "NULL");
        }
        sqlite3_finalize(stmt);
        return out;
    }

  private:
    sqlite3* db_ = nullptr;
};

TEST(SqliteDocumentStore, EachCollectionIsATableWithVirtualColumnsAndIndexesPerField) {
    testing::TempDir dir;
    SqliteDocumentStore store(options_for(dir.file("d.db")));
    store.ensure_collection(kOrders);
    store.insert("orders", "o-1", order("c-1", "t"));

    RawConnection raw(dir.file("d.db"));
    // hidden = 2 marks a VIRTUAL generated column: computed from doc, nothing stored twice.
    EXPECT_EQ(raw.column("SELECT name || ':' || hidden FROM pragma_table_xinfo('doc_orders') ORDER BY cid"),
              (std::vector<std::string>{"id:0", "version:0", "doc:0", "f_customer_id:2", "f_created_at:2",
                                        "f_reference:2"}));
    EXPECT_EQ(
        raw.column("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'doc_orders' AND "
                   "name NOT LIKE 'sqlite_%' ORDER BY name"),
        (std::vector<std::string>{"ix:orders:created_at", "ix:orders:customer_id", "ix:orders:reference",
                                  "ux:orders:reference"}));
    EXPECT_EQ(raw.column("SELECT name FROM pragma_index_info('ix:orders:created_at') ORDER BY seqno"),
              (std::vector<std::string>{"f_created_at", "id"}));
    EXPECT_EQ(raw.column("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
    // The table itself refuses text that is not JSON, whoever writes it.
    EXPECT_NE(raw.exec("INSERT INTO doc_orders (id, version, doc) VALUES ('x', 1, '{not json')"), SQLITE_OK);
}

// The page query is a range scan of the (field, id) index, not a scan and a sort.
TEST(SqliteDocumentStore, KeysetPagesAreIndexRangeScans) {
    testing::TempDir dir;
    SqliteDocumentStore store(options_for(dir.file("d.db")));
    store.ensure_collection(kOrders);
    RawConnection raw(dir.file("d.db"));
    std::vector<std::string> plan = raw.column(
        "EXPLAIN QUERY PLAN SELECT id, version, doc FROM \"doc_orders\" WHERE (\"f_created_at\", id) > (?, "
        "?) "
        "ORDER BY \"f_created_at\" ASC, id ASC LIMIT ?",
        3);  // the "detail" column
    ASSERT_EQ(plan.size(), 1u);
    EXPECT_NE(plan[0].find("USING INDEX ix:orders:created_at"), std::string::npos) << plan[0];
    EXPECT_EQ(plan[0].find("TEMP B-TREE"), std::string::npos) << plan[0];
}

TEST(SqliteDocumentStore, DocumentsSurviveClosingAndReopening) {
    testing::TempDir dir;
    {
        SqliteDocumentOptions options = options_for(dir.file("d.db"));
        options.sync_every_commit = true;
        SqliteDocumentStore store(options);
        store.ensure_collection(kOrders);
        store.insert("orders", "o-1", order("c-1", "t1"));
        store.replace("orders", "o-1", order("c-1", "t2"), 1);
    }
    SqliteDocumentStore reopened(options_for(dir.file("d.db")));
    reopened.ensure_collection(kOrders);
    auto read = reopened.get("orders", "o-1");
    ASSERT_TRUE(read);
    EXPECT_EQ(read->version, 2);
    EXPECT_EQ(read->body.at("created_at"), "t2");
}

// WAL and the reader pool: a long transaction on the writer does not hold up reads, which see the
// last committed state until it commits.
TEST(SqliteDocumentStore, ReadsProceedDuringATransactionAndSeeOnlyCommittedState) {
    testing::TempDir dir;
    SqliteDocumentStore store(options_for(dir.file("d.db")));
    store.ensure_collection(kOrders);
    store.insert("orders", "o-1", order("c-1", "t1"));

    std::promise<void> written;
    std::promise<void> release;
    auto transaction = std::async(std::launch::async, [&] {
        store.transaction([&](DocumentTransaction& tx) {
            tx.insert("orders", "o-2", order("c-1", "t2"));
            EXPECT_TRUE(tx.get("orders", "o-2"));  // its own write
            written.set_value();
            release.get_future().wait();
        });
    });
    written.get_future().wait();
    auto started = std::chrono::steady_clock::now();
    EXPECT_FALSE(store.get("orders", "o-2"));
    EXPECT_EQ(store.find("orders", Query().order("created_at")).items.size(), 1u);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    release.set_value();
    transaction.get();
    EXPECT_TRUE(store.get("orders", "o-2"));
}

// A write through the store inside its own transaction would wait for the writer the transaction
// holds; it is refused instead of hanging.
TEST(SqliteDocumentStore, AWriteThroughTheStoreInsideItsTransactionIsRefused) {
    testing::TempDir dir;
    SqliteDocumentStore store(options_for(dir.file("d.db")));
    store.ensure_collection(kOrders);
    EXPECT_THROW(store.transaction([&](DocumentTransaction& tx) {
        tx.insert("orders", "o-1", order("c-1", "t1"));
        store.insert("orders", "o-2", order("c-1", "t2"));
    }),
                 StoreFailure);
    EXPECT_FALSE(store.get("orders", "o-1"));
    EXPECT_THROW(
        store.transaction([&](DocumentTransaction&) { store.transaction([](DocumentTransaction&) {}); }),
        StoreFailure);
    // The store is usable afterwards.
    EXPECT_EQ(store.insert("orders", "o-3", order("c-1", "t3")).version, 1);
}

// In memory there are no readers: reads inside a transaction use the writer the thread holds.
TEST(SqliteDocumentStore, InMemoryReadsInsideATransactionDoNotDeadlock) {
    SqliteDocumentStore store(options_for(":memory:"));
    store.ensure_collection(kOrders);
    store.insert("orders", "o-1", order("c-1", "t1"));
    bool seen = store.transaction([&](DocumentTransaction& tx) {
        tx.insert("orders", "o-2", order("c-1", "t2"));
        return store.get("orders", "o-1").has_value();
    });
    EXPECT_TRUE(seen);
    EXPECT_TRUE(store.ping());
}

// Another process holding the write lock past busy_timeout makes writes fail with 503, not hang.
TEST(SqliteDocumentStore, ALockHeldElsewhereBeyondTheBusyTimeoutIsUnavailable) {
    testing::TempDir dir;
    SqliteDocumentOptions options = options_for(dir.file("d.db"));
    options.busy_timeout = std::chrono::milliseconds(100);
    SqliteDocumentStore store(options);
    store.ensure_collection(kOrders);

    RawConnection other(dir.file("d.db"));
    ASSERT_EQ(other.exec("BEGIN IMMEDIATE"), SQLITE_OK);
    auto started = std::chrono::steady_clock::now();
    try {
        store.insert("orders", "o-1", order("c-1", "t1"));
        FAIL() << "insert succeeded while another connection held the write lock";
    } catch (const StoreUnavailable& e) {
        EXPECT_EQ(e.status(), 503);
    }
    EXPECT_THROW(
        store.transaction([&](DocumentTransaction& tx) { tx.insert("orders", "o-2", order("c", "t")); }),
        StoreUnavailable);
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(150));
    // Reads go on meanwhile (WAL).
    EXPECT_FALSE(store.get("orders", "o-1"));
    ASSERT_EQ(other.exec("COMMIT"), SQLITE_OK);
    EXPECT_EQ(store.insert("orders", "o-1", order("c-1", "t1")).version, 1);
}

TEST(SqliteDocumentStore, AFileThatCannotBeOpenedIsUnavailable) {
    testing::TempDir dir;
    EXPECT_THROW(SqliteDocumentStore(options_for(dir.file("missing/dir/d.db"))), StoreUnavailable);
}

// Many threads reading and writing at once through the pools: nothing lost, nothing corrupted.
TEST(SqliteDocumentStore, ConcurrentInsertsAndReadsFromManyThreads) {
    testing::TempDir dir;
    SqliteDocumentStore store(options_for(dir.file("d.db")));
    store.ensure_collection(kOrders);
    constexpr int kThreads = 4;
    constexpr int kEach = 25;
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            try {
                for (int i = 0; i < kEach; ++i) {
                    std::string id = "o-" + std::to_string(t) + "-" + std::to_string(i);
                    store.insert("orders", id, order("c-1", "t"));
                    if (!store.get("orders", id)) ++failures;
                    store.find("orders", Query().filter("customer_id", Op::eq, "c-1").take(10));
                }
            } catch (const std::exception&) {
                ++failures;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
    std::set<std::string> ids;
    Query query = Query().take(kMaxPageSize);
    Page page = store.find("orders", query);
    for (const Document& d : page.items) ids.insert(d.id);
    EXPECT_EQ(ids.size(), static_cast<std::size_t>(kThreads * kEach));
}

}  // namespace
}  // namespace olympus::documents
