#pragma once

// The embedded document store: one SQLite file, one table per collection
//   doc_<collection>(id TEXT PRIMARY KEY, version INTEGER, doc TEXT CHECK (json_valid(doc)))
// with a VIRTUAL generated column f_<field> = json_extract(doc, '$.<field>') for each indexed field,
// indexed together with the id so that keyset pages are index range scans.
//
// Connections: one writer (WAL lets readers proceed while it writes; writes in this process queue on
// a mutex rather than on SQLite's busy handler) and a pool of read-only readers. A transaction is one
// BEGIN IMMEDIATE … COMMIT on the writer. Inside transaction(), write through the DocumentTransaction
// only: a write through the store itself would wait for the writer the transaction holds, so it is
// refused; reads through the store see the last committed state, reads through the transaction see
// its own writes.

#include <chrono>
#include <memory>
#include <string>

#include "documents/document_store.hpp"

namespace olympus::documents {

struct SqliteDocumentOptions {
    // The database file (created if missing). ":memory:" keeps a private in-memory database on the
    // writer connection alone, for tests and demos.
    std::string path;
    // Read connections: reads run in parallel with each other and with the writer.
    unsigned readers = 4;
    // How long a statement waits for a lock held by another process before failing with 503.
    std::chrono::milliseconds busy_timeout{5000};
    // true: synchronous=FULL, an acknowledged write survives power loss. false: synchronous=NORMAL,
    // still atomic and consistent, but the last commits may be lost on power loss (not on a crash).
    bool sync_every_commit = true;
};

class SqliteDocumentStore final : public DocumentStore {
  public:
    // Opens (or creates) the database; StoreUnavailable when the file cannot be opened.
    explicit SqliteDocumentStore(SqliteDocumentOptions options);
    ~SqliteDocumentStore() override;

    bool ping() noexcept override;

  private:
    struct Impl;

    std::optional<Document> do_get(const CollectionSpec& spec, std::string_view id) override;
    void do_insert(const CollectionSpec& spec, std::string_view id, const Body& body) override;
    std::int64_t do_replace(const CollectionSpec& spec, std::string_view id, const Body& body,
                            std::int64_t expected_version) override;
    bool do_remove(const CollectionSpec& spec, std::string_view id,
                   std::optional<std::int64_t> expected_version) override;
    void do_ensure_collection(const CollectionSpec& spec) override;
    std::vector<Document> do_find(const FindPlan& plan) override;
    void do_transaction(const std::function<void(DocumentTransaction&)>& body) override;

    std::unique_ptr<Impl> impl_;
};

}  // namespace olympus::documents
