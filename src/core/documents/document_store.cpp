#include "documents/document_store.hpp"

#include <cmath>
#include <limits>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <bson/bson.h>
#include <openssl/evp.h>

#include "json/body.hpp"

namespace olympus::documents {

// ---- errors -------------------------------------------------------------------------------------

DocumentError::DocumentError(int status, std::string title, std::string detail, std::string diagnostic)
    : Problem(status, std::move(title), std::move(detail)), diagnostic_(std::move(diagnostic)) {}

const char* DocumentError::what() const noexcept {
    if (!diagnostic_.empty()) return diagnostic_.c_str();
    if (!detail().empty()) return detail().c_str();
    return Problem::what();
}

DuplicateKey::DuplicateKey(std::string collection, std::string field, std::string diagnostic)
    : DocumentError(409, "Conflict",
                    field == "id" ? "a document with this id already exists"
                                  : "another document already has this " + field,
                    std::move(diagnostic)),
      collection_(std::move(collection)),
      field_(std::move(field)) {}

VersionConflict::VersionConflict(std::int64_t expected, std::int64_t actual)
    : DocumentError(
          409, "Conflict",
          "the document is at version " + std::to_string(actual) + ", not " + std::to_string(expected)),
      expected_(expected),
      actual_(actual) {}

DocumentNotFound::DocumentNotFound(std::string_view id)
    : DocumentError(404, "Not Found", "no document with id " + std::string(id)) {}

InvalidDocument::InvalidDocument(std::string detail)
    : DocumentError(422, "Unprocessable Content", std::move(detail)) {}

InvalidQuery::InvalidQuery(std::string detail) : DocumentError(400, "Bad Request", std::move(detail)) {}

InvalidName::InvalidName(std::string diagnostic)
    : DocumentError(500, "Internal Server Error", {}, std::move(diagnostic)) {}

StoreUnavailable::StoreUnavailable(std::string diagnostic)
    : DocumentError(503, "Service Unavailable", "the document store is unavailable", std::move(diagnostic)) {}

StoreFailure::StoreFailure(std::string diagnostic)
    : DocumentError(500, "Internal Server Error", {}, std::move(diagnostic)) {}

// ---- names and values ---------------------------------------------------------------------------

namespace {

bool name_chars(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameLength) return false;
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return !(name[0] >= '0' && name[0] <= '9');
}

bool valid_utf8(std::string_view text, bool allow_nul) {
    return bson_utf8_validate(text.data(), text.size(), allow_nul);
}

std::string_view type_name(FieldType type) {
    switch (type) {
        case FieldType::string:
            return "a string without NUL";
        case FieldType::integer:
            return "an integer";
        case FieldType::number:
            return "a number";
        case FieldType::boolean:
            return "a boolean";
    }
    return "?";
}

[[noreturn]] void invalid(const std::string& pointer, std::string_view problem) {
    throw InvalidDocument((pointer.empty() ? std::string("/") : pointer) + ": " + std::string(problem));
}

void check_key(std::string_view key, const std::string& pointer, bool top_level) {
    if (key.empty()) invalid(pointer, "member names must not be empty");
    if (!valid_utf8(key, false)) invalid(pointer, "member names must be UTF-8 without NUL");
    if (key.find('.') != std::string_view::npos) invalid(pointer, "member names must not contain '.'");
    if (key.front() == '$') invalid(pointer, "member names must not start with '$'");
    if (top_level && key.front() == '_') invalid(pointer, "top-level names starting with '_' are reserved");
}

void check_value(const boost::json::value& value, const std::string& pointer, std::size_t depth) {
    switch (value.kind()) {
        case boost::json::kind::object: {
            if (depth >= kMaxDocumentDepth) invalid(pointer, "nested too deeply");
            for (const auto& member : value.get_object()) {
                std::string child = pointer + "/" + json::escape_pointer_token(member.key());
                check_key(member.key(), child, false);
                check_value(member.value(), child, depth + 1);
            }
            break;
        }
        case boost::json::kind::array: {
            if (depth >= kMaxDocumentDepth) invalid(pointer, "nested too deeply");
            const auto& array = value.get_array();
            for (std::size_t i = 0; i < array.size(); ++i) {
                check_value(array[i], pointer + "/" + std::to_string(i), depth + 1);
            }
            break;
        }
        case boost::json::kind::string:
            if (!valid_utf8(value.get_string(), true)) invalid(pointer, "strings must be UTF-8");
            break;
        case boost::json::kind::uint64:
            if (value.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                invalid(pointer, "integers must fit in 64 signed bits");
            break;
        case boost::json::kind::double_:
            if (!std::isfinite(value.get_double())) invalid(pointer, "numbers must be finite");
            break;
        default:
            break;
    }
}

bool valid_id(std::string_view id) {
    return !id.empty() && id.size() <= kMaxIdBytes && valid_utf8(id, false);
}

void require_id(std::string_view id) {
    if (!valid_id(id)) {
        throw InvalidDocument("id: must be 1 to " + std::to_string(kMaxIdBytes) +
                              " bytes of UTF-8 without NUL");
    }
}

}  // namespace

bool valid_collection_name(std::string_view name) {
    return name_chars(name);
}

bool valid_field_name(std::string_view name) {
    return name_chars(name) && name.front() != '_';
}

bool has_type(const boost::json::value& value, FieldType type) {
    switch (type) {
        case FieldType::string:
            // SQLite's json_extract() ends a string at NUL, so indexed strings may not hold one.
            return value.is_string() && value.get_string().find('\0') == boost::json::string::npos;
        case FieldType::integer:
            return value.is_int64() ||
                   (value.is_uint64() && value.get_uint64() <= static_cast<std::uint64_t>(
                                                                   std::numeric_limits<std::int64_t>::max()));
        case FieldType::number:
            return has_type(value, FieldType::integer) ||
                   (value.is_double() && std::isfinite(value.get_double()));
        case FieldType::boolean:
            return value.is_bool();
    }
    return false;
}

void validate_body(const CollectionSpec& spec, const boost::json::object& body) {
    for (const auto& member : body) {
        std::string pointer = "/" + json::escape_pointer_token(member.key());
        check_key(member.key(), pointer, true);
        check_value(member.value(), pointer, 1);
    }
    for (const IndexedField& field : spec.fields) {
        std::string pointer = "/" + field.name;
        const boost::json::value* value = body.if_contains(field.name);
        if (value == nullptr || value->is_null()) {
            if (field.required) invalid(pointer, "required");
            if (value != nullptr) invalid(pointer, "must be omitted rather than null");
            continue;
        }
        if (!has_type(*value, field.type)) invalid(pointer, "must be " + std::string(type_name(field.type)));
    }
}

const IndexedField* CollectionSpec::field(std::string_view field_name) const {
    for (const IndexedField& f : fields) {
        if (f.name == field_name) return &f;
    }
    return nullptr;
}

// ---- cursors ------------------------------------------------------------------------------------

std::string base64url_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    int written =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(written));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;
    std::string padded(text);
    for (char& c : padded) {
        if (c == '-') {
            c = '+';
        } else if (c == '_') {
            c = '/';
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            return std::nullopt;
        }
    }
    std::size_t padding = (4 - padded.size() % 4) % 4;
    padded.append(padding, '=');
    std::string out(padded.size() / 4 * 3, '\0');
    int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(padded.data()),
                                  static_cast<int>(padded.size()));
    if (written < 0) return std::nullopt;
    // EVP_DecodeBlock counts the bytes the padding stands for, as zeros.
    out.resize(static_cast<std::size_t>(written) - padding);
    return out;
}

std::string encode_cursor(std::string_view order_by, Direction direction, const boost::json::value& key,
                          std::string_view id) {
    boost::json::array position{boost::json::string(order_by),
                                direction == Direction::ascending ? "asc" : "desc", key,
                                boost::json::string(id)};
    return base64url_encode(boost::json::serialize(position));
}

DecodedCursor decode_cursor(std::string_view cursor) {
    auto malformed = [] { return InvalidQuery("cursor: not a cursor of this query"); };
    if (cursor.size() > kMaxCursorLength) throw malformed();
    std::optional<std::string> text = base64url_decode(cursor);
    if (!text) throw malformed();
    boost::system::error_code ec;
    boost::json::value parsed = boost::json::parse(*text, ec);
    if (ec || !parsed.is_array()) throw malformed();
    const auto& position = parsed.get_array();
    if (position.size() != 4 || !position[0].is_string() || !position[1].is_string() ||
        !position[3].is_string())
        throw malformed();
    DecodedCursor decoded;
    decoded.order_by = position[0].get_string();
    if (position[1].get_string() == "asc") {
        decoded.direction = Direction::ascending;
    } else if (position[1].get_string() == "desc") {
        decoded.direction = Direction::descending;
    } else {
        throw malformed();
    }
    decoded.key = position[2];
    decoded.id = position[3].get_string();
    if (!valid_id(decoded.id)) throw malformed();
    return decoded;
}

// ---- the port -----------------------------------------------------------------------------------

namespace detail {

void Collections::put(CollectionSpec spec) {
    std::string name = spec.name;
    auto shared = std::make_shared<const CollectionSpec>(std::move(spec));
    std::unique_lock lock(mutex_);
    specs_[std::move(name)] = std::move(shared);
}

std::shared_ptr<const CollectionSpec> Collections::get(std::string_view name) const {
    if (!valid_collection_name(name)) throw InvalidName("invalid collection name: " + std::string(name));
    std::shared_lock lock(mutex_);
    auto it = specs_.find(std::string(name));
    if (it == specs_.end()) {
        throw InvalidName("collection " + std::string(name) + " was not declared with ensure_collection");
    }
    return it->second;
}

}  // namespace detail

std::optional<Document> DocumentOperations::get(std::string_view collection, std::string_view id) {
    auto spec = collections_.get(collection);
    if (!valid_id(id)) return std::nullopt;  // no such document can exist
    return do_get(*spec, id);
}

Document DocumentOperations::insert(std::string_view collection, std::string_view id,
                                    boost::json::object body) {
    auto spec = collections_.get(collection);
    require_id(id);
    validate_body(*spec, body);
    Body validated{body, boost::json::serialize(body)};
    if (validated.json.size() > kMaxDocumentBytes) {
        throw InvalidDocument("/: larger than " + std::to_string(kMaxDocumentBytes) + " bytes");
    }
    do_insert(*spec, id, validated);
    return Document{std::string(id), 1, std::move(body)};
}

Document DocumentOperations::replace(std::string_view collection, std::string_view id,
                                     boost::json::object body, std::int64_t expected_version) {
    auto spec = collections_.get(collection);
    if (!valid_id(id)) throw DocumentNotFound(id);
    validate_body(*spec, body);
    Body validated{body, boost::json::serialize(body)};
    if (validated.json.size() > kMaxDocumentBytes) {
        throw InvalidDocument("/: larger than " + std::to_string(kMaxDocumentBytes) + " bytes");
    }
    std::int64_t version = do_replace(*spec, id, validated, expected_version);
    return Document{std::string(id), version, std::move(body)};
}

bool DocumentOperations::remove(std::string_view collection, std::string_view id) {
    auto spec = collections_.get(collection);
    if (!valid_id(id)) return false;
    return do_remove(*spec, id, std::nullopt);
}

bool DocumentOperations::remove(std::string_view collection, std::string_view id,
                                std::int64_t expected_version) {
    auto spec = collections_.get(collection);
    if (!valid_id(id)) return false;
    return do_remove(*spec, id, expected_version);
}

void DocumentStore::ensure_collection(const CollectionSpec& spec) {
    if (!valid_collection_name(spec.name)) throw InvalidName("invalid collection name: " + spec.name);
    for (std::size_t i = 0; i < spec.fields.size(); ++i) {
        const IndexedField& field = spec.fields[i];
        if (!valid_field_name(field.name)) {
            throw InvalidName("invalid field name in collection " + spec.name + ": " + field.name);
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (spec.fields[j].name == field.name) {
                throw InvalidName("field " + field.name + " declared twice in collection " + spec.name);
            }
        }
    }
    do_ensure_collection(spec);
    collections_.put(spec);
}

Page DocumentStore::find(std::string_view collection, const Query& query) {
    auto spec = collections_.get(collection);
    for (const Condition& condition : query.where) {
        const IndexedField* field = spec->field(condition.field);
        if (field == nullptr) throw InvalidQuery(condition.field + ": not an indexed field");
        if (!has_type(condition.value, field->type)) {
            throw InvalidQuery(condition.field + ": must be compared with " +
                               std::string(type_name(field->type)));
        }
    }
    const IndexedField* order_by = nullptr;
    if (!query.order_by.empty()) {
        order_by = spec->field(query.order_by);
        if (order_by == nullptr || !order_by->required) {
            throw InvalidQuery(query.order_by + ": cannot sort on it (not a required indexed field)");
        }
    }
    if (query.limit < 1 || query.limit > kMaxPageSize) {
        throw InvalidQuery("limit: must be between 1 and " + std::to_string(kMaxPageSize));
    }

    FindPlan plan{*spec,           query.where, order_by, query.direction == Direction::descending,
                  query.limit + 1, {}};
    if (!query.cursor.empty()) {
        DecodedCursor cursor = decode_cursor(query.cursor);
        bool key_fits = order_by == nullptr ? cursor.key.is_null() : has_type(cursor.key, order_by->type);
        if (cursor.order_by != query.order_by || cursor.direction != query.direction || !key_fits) {
            throw InvalidQuery("cursor: not a cursor of this query");
        }
        plan.after = FindPlan::After{std::move(cursor.key), std::move(cursor.id)};
    }

    Page page;
    page.items = do_find(plan);
    if (page.items.size() > query.limit) {
        page.items.resize(query.limit);
        const Document& last = page.items.back();
        boost::json::value key = order_by == nullptr ? boost::json::value() : last.body.at(order_by->name);
        page.next_cursor = encode_cursor(query.order_by, query.direction, key, last.id);
    }
    return page;
}

}  // namespace olympus::documents
