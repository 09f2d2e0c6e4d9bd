#include "sql/database.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "sql/mariadb.hpp"
#include "sql/sqlite.hpp"

namespace olympus::sql {

namespace {

constexpr std::string_view kPing = "SELECT 1";

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

std::string_view type_name(const Value& value) {
    switch (value.index()) {
        case 0:
            return "NULL";
        case 1:
            return "an integer";
        case 2:
            return "a real";
        case 3:
            return "text";
        default:
            return "a blob";
    }
}

}  // namespace

std::string_view to_string(Dialect dialect) {
    switch (dialect) {
        case Dialect::sqlite:
            return "sqlite";
        case Dialect::mariadb:
            return "mariadb";
    }
    return "unknown";
}

// ---- Row ----------------------------------------------------------------------------------------

const std::string& Row::column_name(std::size_t column) const {
    if (column >= size())
        throw Error("no column " + std::to_string(column) + " in a row of " + std::to_string(size()));
    return (*data_->columns)[column];
}

std::size_t Row::column_index(std::string_view name) const {
    const auto& columns = *data_->columns;
    for (std::size_t i = 0; i < columns.size(); ++i) {
        if (iequals(columns[i], name)) return i;
    }
    throw Error("no column named '" + std::string(name) + "' in the result");
}

const Value& Row::value(std::size_t column) const {
    if (column >= size())
        throw Error("no column " + std::to_string(column) + " in a row of " + std::to_string(size()));
    return data_->values[row_ * data_->width() + column];
}

void Row::out_of_range(std::size_t column, std::string_view type) const {
    const Value& v = value(column);
    throw Error("column '" + column_name(column) + "' holds " + std::string(type_name(v)) +
                ", which cannot be read as " + std::string(type));
}

std::int64_t Row::int64_at(std::size_t column) const {
    const Value& v = value(column);
    if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
    out_of_range(column, "an integer");
}

double Row::double_at(std::size_t column) const {
    const Value& v = value(column);
    if (const auto* d = std::get_if<double>(&v)) return *d;
    if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
    out_of_range(column, "a real");
}

std::string_view Row::text_at(std::size_t column) const {
    const Value& v = value(column);
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    // Binary string columns (MariaDB VARBINARY) read as text when the caller says they are text.
    if (const auto* b = std::get_if<Blob>(&v)) {
        return {reinterpret_cast<const char*>(b->data()), b->size()};
    }
    out_of_range(column, "text");
}

BlobView Row::blob_at(std::size_t column) const {
    const Value& v = value(column);
    if (const auto* b = std::get_if<Blob>(&v)) return *b;
    if (const auto* s = std::get_if<std::string>(&v)) {
        return {reinterpret_cast<const std::uint8_t*>(s->data()), s->size()};
    }
    out_of_range(column, "a blob");
}

// ---- Rows ---------------------------------------------------------------------------------------

Row Rows::operator[](std::size_t row) const {
    if (row >= size())
        throw Error("no row " + std::to_string(row) + " in a result of " + std::to_string(size()));
    return Row(data_, row);
}

const std::vector<std::string>& Rows::columns() const {
    static const std::vector<std::string> kNone;
    return data_ ? *data_->columns : kNone;
}

// ---- Statement ----------------------------------------------------------------------------------

Statement& Statement::bind(int position, const Value& value) {
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                bind_null(position);
            } else {
                bind(position, v);
            }
        },
        value);
    return *this;
}

std::optional<Row> Statement::query_one() {
    Rows rows = query();
    if (rows.empty()) return std::nullopt;
    if (rows.size() > 1)
        throw Error("query_one: the statement returned " + std::to_string(rows.size()) + " rows");
    return rows[0];
}

void Statement::check_parameter_count(std::size_t given) const {
    if (given != static_cast<std::size_t>(parameter_count())) {
        throw Error("the statement takes " + std::to_string(parameter_count()) + " parameters, " +
                    std::to_string(given) + " given");
    }
}

void Statement::unsigned_out_of_range(int position) {
    throw Error("parameter " + std::to_string(position) + ": unsigned value above the 64-bit signed range");
}

// ---- Transaction --------------------------------------------------------------------------------

Transaction::Transaction(Connection& connection) : connection_(connection) {
    if (connection_.in_transaction_) {
        throw Error("nested transaction refused: the connection is already in a transaction");
    }
    connection_.begin_transaction();
    connection_.in_transaction_ = true;
}

Transaction::~Transaction() {
    if (!open_) return;
    try {
        rollback();
    } catch (...) {
        // The connection is already broken (ConnectionLost); its lease drops it.
    }
}

void Transaction::commit() {
    if (!open_) throw Error("commit: the transaction is already finished");
    open_ = false;
    try {
        connection_.commit_transaction();
    } catch (...) {
        // A failed COMMIT leaves nothing to commit; try to leave the connection clean.
        try {
            connection_.rollback_transaction();
        } catch (...) {
        }
        connection_.in_transaction_ = false;
        throw;
    }
    connection_.in_transaction_ = false;
}

void Transaction::rollback() {
    if (!open_) return;
    open_ = false;
    connection_.in_transaction_ = false;
    connection_.rollback_transaction();
}

// ---- Database -----------------------------------------------------------------------------------

void Database::ping() {
    read([](Connection& c) { c.query_one(kPing); });
}

std::unique_ptr<Database> open(std::string_view url) {
    if (url.starts_with("sqlite:")) return open_sqlite(parse_sqlite_url(url));
    if (url.starts_with("mariadb:") || url.starts_with("mysql:")) return open_mariadb(parse_mariadb_url(url));
    const auto colon = url.find(':');
    throw std::invalid_argument("database URL: unknown scheme '" +
                                std::string(url.substr(0, colon == std::string_view::npos ? 0 : colon)) +
                                "' (expected sqlite: or mariadb:)");
}

std::string redact_url(std::string_view url) {
    auto parsed = boost::urls::parse_uri_reference(url);
    if (!parsed) return "<unparseable URL>";
    boost::urls::url copy(*parsed);
    if (copy.has_password()) copy.set_password("***");
    return std::string(copy.buffer());
}

}  // namespace olympus::sql
