#pragma once

// What the MongoDB adapter sends and reads, built without a server so that it can be tested on its
// own: the JSON ↔ BSON mapping, the stored form of a document, the find filter and options, the
// index specifications, the update that keeps embedded outbox events, and the error mapping.
//
// Mapping: objects ↔ embedded documents, arrays ↔ arrays, strings ↔ UTF-8, integers ↔ int64 (int32
// read back as int64), doubles ↔ double, true/false ↔ bool, null ↔ null. Other BSON types (dates,
// ObjectIds, decimals, binary …) never come from this store and are refused when read.
//
// Stored form: {_id: <id>, _version: <int64>, ...body}, plus _outbox: [{id, body}, …] while events
// written without a multi-document transaction wait to be moved to the outbox collection.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <bson/bson.h>

#include "documents/document_store.hpp"

namespace olympus::documents::mongo {

// An owned, heap-allocated bson_t (a unique_ptr cannot hold bson_t: its alignment attribute is
// dropped on template arguments).
class Bson {
  public:
    Bson() : bson_(bson_new()) {}
    // Takes ownership of a bson_t from bson_new() or bson_copy().
    explicit Bson(bson_t* owned) : bson_(owned) {}
    ~Bson() {
        if (bson_ != nullptr) bson_destroy(bson_);
    }
    Bson(Bson&& other) noexcept : bson_(std::exchange(other.bson_, nullptr)) {}
    Bson& operator=(Bson&& other) noexcept {
        std::swap(bson_, other.bson_);
        return *this;
    }
    Bson(const Bson&) = delete;
    Bson& operator=(const Bson&) = delete;

    bson_t& operator*() const { return *bson_; }
    bson_t* get() const { return bson_; }

  private:
    bson_t* bson_;
};

inline Bson new_bson() {
    return Bson();
}
// Canonical and relaxed extended JSON (MongoDB Extended JSON v2), for tests and diagnostics.
std::string canonical_json(const bson_t& bson);
std::string relaxed_json(const bson_t& bson);

// JSON → BSON. InvalidDocument for what BSON or MongoDB cannot hold as given: a member name that is
// empty, holds '.' or NUL, or starts with '$'; an integer beyond int64; a non-finite number.
Bson to_bson(const boost::json::object& object);
void append_value(bson_t& out, std::string_view key, const boost::json::value& value);
// BSON → JSON. StoreFailure on a type the mapping does not cover.
boost::json::object to_json(const bson_t& bson);

inline constexpr std::string_view kIdKey = "_id";
inline constexpr std::string_view kVersionKey = "_version";
inline constexpr std::string_view kOutboxKey = "_outbox";

struct EmbeddedEvent {
    std::string id;
    boost::json::object body;
};

Bson stored_document(std::string_view id, std::int64_t version, const boost::json::object& body,
                     const std::vector<EmbeddedEvent>& events = {});
// The document without the store's own members. StoreFailure when _id or _version is missing.
Document from_stored(const bson_t& stored);
// The events waiting in a stored document's _outbox.
std::vector<EmbeddedEvent> embedded_events(const bson_t& stored);

// {_id: id} and {_id: id, _version: version}
Bson id_filter(std::string_view id);
Bson version_filter(std::string_view id, std::int64_t version);

// {"$and": [<condition>…, <keyset position>]} ({} when there is nothing to match).
Bson find_filter(const FindPlan& plan);
// {"sort": {<field>: ±1, "_id": ±1}, "limit": fetch}
Bson find_options(const FindPlan& plan);

// The createIndexes command for a collection: "ix_<field>" on (field, _id) for every indexed field
// (keyset pages are index range scans), "ux_<field>" unique on (field) for unique ones, partial on
// documents that have the field when it is optional; with `embedded_outbox`, a sparse index on
// _outbox.id so that pending events are found without a collection scan.
Bson create_indexes_command(const CollectionSpec& spec, bool embedded_outbox);
// The names create_indexes_command creates: any other ix_/ux_ index is stale and dropped.
std::vector<std::string> index_names(const CollectionSpec& spec, bool embedded_outbox);

// An update pipeline that replaces the body, sets the version and appends `events` to whatever
// _outbox already holds (removing _outbox when that stays empty): without multi-document
// transactions a replace must not drop events still waiting to be moved. Values are wrapped in
// $literal so that strings starting with '$' stay strings.
Bson replace_keeping_outbox(std::int64_t version, const boost::json::object& body,
                            const std::vector<EmbeddedEvent>& events);
// {"$pull": {"_outbox": {"id": {"$in": [ids…]}}}}
Bson pull_events(const std::vector<std::string>& event_ids);

// Throws the store's typed error for a failed driver call. `reply` may be null. DuplicateKey for
// E11000 naming the field from the index name (_id_ → "id", ux_<field> → field); StoreUnavailable
// for network, server-selection, write-concern and retryable server errors; StoreFailure otherwise.
[[noreturn]] void throw_error(const bson_error_t& error, const bson_t* reply, std::string_view collection,
                              std::string_view doing);
// True when the failure may succeed on retry of the whole transaction.
bool is_transient_transaction_error(const bson_t* reply);

}  // namespace olympus::documents::mongo
