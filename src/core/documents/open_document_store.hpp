#pragma once

// Chooses the document store adapter once, at start-up, from one configuration value:
//   sqlite:///var/lib/olympus/poseidon.db         the embedded default (sqlite://relative/path.db,
//                                                 sqlite::memory:; ?readers=N&busy_timeout_ms=M)
//   mongodb://user:pass@h1,h2/poseidon?replicaSet=rs0   production (also mongodb+srv://)
// The SQLite URL is read exactly as the SQL port reads it (sql::parse_sqlite_url), so a service's
// database settings look the same whichever port it uses.

#include <memory>
#include <string_view>

#include "documents/document_store.hpp"

namespace olympus::documents {

// Throws std::invalid_argument naming what is wrong, never quoting credentials. Connects lazily
// for MongoDB; opens (creating when missing) the file for SQLite.
std::unique_ptr<DocumentStore> open_document_store(std::string_view url);

}  // namespace olympus::documents
