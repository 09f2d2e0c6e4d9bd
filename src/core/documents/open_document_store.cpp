#include "documents/open_document_store.hpp"

#include <stdexcept>
#include <string>

#include "documents/mongo_document_store.hpp"
#include "documents/sqlite_document_store.hpp"
#include "sql/sqlite.hpp"

namespace olympus::documents {

std::unique_ptr<DocumentStore> open_document_store(std::string_view url) {
    if (url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")) {
        MongoDocumentOptions options;
        options.uri = std::string(url);
        try {
            return std::make_unique<MongoDocumentStore>(std::move(options));
        } catch (const StoreFailure& e) {
            // The diagnostic is the driver's message, which does not quote the URI.
            throw std::invalid_argument("document store URL: " + e.diagnostic());
        }
    }
    if (url.starts_with("sqlite:")) {
        sql::SqliteOptions parsed = sql::parse_sqlite_url(url);
        SqliteDocumentOptions options;
        options.path = parsed.path;
        options.readers = parsed.readers;
        options.busy_timeout = parsed.busy_timeout;
        return std::make_unique<SqliteDocumentStore>(std::move(options));
    }
    throw std::invalid_argument("document store URL: expected sqlite: or mongodb://");
}

}  // namespace olympus::documents
