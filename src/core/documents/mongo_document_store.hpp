#pragma once

// The production document store: MongoDB through mongo-c-driver. One pooled client per process,
// majority write concern and retryable writes forced on whatever the URI says, indexes created by
// ensure_collection(). Documents are stored as {_id, _version, ...body} (see mongo_bson.hpp); a
// replace is an update filtered on {_id, _version}, so a stale version matches nothing.
//
// Transactions. On a replica set or a sharded cluster, transaction() is a server transaction on a
// client session (snapshot reads, majority writes; retried as a whole on TransientTransactionError,
// its commit retried on UnknownTransactionCommitResult). A standalone server has no multi-document
// transactions; there the adapter falls back to what one document write can make atomic:
//   - a transaction may hold ONE document write (insert or replace; a remove only without events)
//     plus any number of inserts into the outbox collection (the events);
//   - the events are written INSIDE that document, under _outbox, by the same single-document
//     write, so the change and its events commit together or not at all;
//   - right after, the adapter moves them to the outbox collection (insert by event id, so moving
//     twice is harmless) and pulls them from the document. A crash in between leaves them in
//     _outbox; ensure_collection() and move_embedded_events() finish the move, so call the latter
//     periodically (the outbox relay's loop is a good place) and it runs at every start;
//   - every replace keeps pending _outbox events and every remove moves them first, so nothing
//     the fallback writes is lost. Writes are buffered until the body returns, so a conflict or a
//     duplicate key surfaces when transaction() commits rather than at the call.
// Inside a transaction, a store error ends it: let it propagate (MongoDB aborts the transaction).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "documents/document_store.hpp"

namespace olympus::documents {

struct MongoDocumentOptions {
    // mongodb://[user:password@]host[:port][,host…]/[database][?options]. Secrets stay out of logs:
    // errors never quote it.
    std::string uri;
    // The database; empty: the one the URI names, else "olympus".
    std::string database;
    enum class Transactions : std::uint8_t {
        automatic,  // server transactions when the deployment has them, else the fallback
        required,   // ensure_collection() fails on a deployment without them
        never,      // always the fallback
    };
    Transactions transactions = Transactions::automatic;
    // Inserts into this collection inside a transaction are the outbox events of the fallback.
    std::string outbox_collection = "outbox";
    // Connections per process; callers wait for one beyond that.
    std::uint32_t max_pool_size = 32;
    // How long a call waits for a suitable server, unless the URI sets serverSelectionTimeoutMS:
    // short, so that readiness probes and requests fail fast while the database is down.
    std::chrono::milliseconds server_selection_timeout{5000};
    // How long a write waits for a majority of the replica set before failing with 503.
    std::chrono::milliseconds write_concern_timeout{10000};
};

class MongoDocumentStore final : public DocumentStore {
  public:
    // Parses the URI and sets up the pool; connects lazily. StoreFailure on a malformed URI.
    explicit MongoDocumentStore(MongoDocumentOptions options);
    ~MongoDocumentStore() override;

    bool ping() noexcept override;

    // Whether transaction() runs server transactions (asks the server once).
    bool multi_document_transactions();

    // Fallback only (else 0): moves events still waiting inside documents of every declared
    // collection to the outbox collection; returns how many were moved.
    std::size_t move_embedded_events();

    // Drops the whole database: for tests that create a scratch database.
    void drop_database();

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
