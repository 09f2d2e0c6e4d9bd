#include "documents/mongo_bson.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include <boost/json/array.hpp>
#include <mongoc/mongoc.h>

namespace olympus::documents::mongo {

namespace {

int key_length(std::string_view key) {
    return static_cast<int>(key.size());
}

[[noreturn]] void too_large() {
    throw InvalidDocument("/: larger than a BSON document can be");
}

void check_key(std::string_view key) {
    if (key.empty() || key.find('.') != std::string_view::npos || key.front() == '$' ||
        key.find('\0') != std::string_view::npos) {
        throw InvalidDocument("member name not allowed in MongoDB: \"" + std::string(key) + "\"");
    }
}

void append_object(bson_t& out, const boost::json::object& object) {
    for (const auto& member : object) {
        check_key(member.key());
        append_value(out, member.key(), member.value());
    }
}

// Appends an index key ("0", "1", …) the way BSON arrays spell them.
template <class F>
void for_each_index(std::size_t count, F&& f) {
    char buffer[16];
    for (std::size_t i = 0; i < count; ++i) {
        const char* key = nullptr;
        std::size_t length =
            bson_uint32_to_string(static_cast<std::uint32_t>(i), &key, buffer, sizeof buffer);
        f(std::string_view(key, length), i);
    }
}

void append_array(bson_t& out, std::string_view key, const boost::json::array& array) {
    bson_t child;
    if (!bson_append_array_begin(&out, key.data(), key_length(key), &child)) too_large();
    for_each_index(array.size(),
                   [&](std::string_view index, std::size_t i) { append_value(child, index, array[i]); });
    if (!bson_append_array_end(&out, &child)) too_large();
}

boost::json::value read_value(const bson_iter_t& it, const std::string& pointer);

boost::json::object read_document(bson_iter_t& it, const std::string& pointer) {
    boost::json::object object;
    while (bson_iter_next(&it)) {
        std::string_view key(bson_iter_key(&it), bson_iter_key_len(&it));
        object.emplace(key, read_value(it, pointer + "/" + std::string(key)));
    }
    return object;
}

boost::json::value read_value(const bson_iter_t& it, const std::string& pointer) {
    switch (bson_iter_type(&it)) {
        case BSON_TYPE_DOUBLE: {
            double d = bson_iter_double(&it);
            if (!std::isfinite(d))
                throw StoreFailure("stored document has a non-finite number at " + pointer);
            return d;
        }
        case BSON_TYPE_UTF8: {
            std::uint32_t length = 0;
            const char* text = bson_iter_utf8(&it, &length);
            return boost::json::string(std::string_view(text, length));
        }
        case BSON_TYPE_DOCUMENT: {
            bson_iter_t child;
            if (!bson_iter_recurse(&it, &child)) throw StoreFailure("corrupt BSON at " + pointer);
            return read_document(child, pointer);
        }
        case BSON_TYPE_ARRAY: {
            bson_iter_t child;
            if (!bson_iter_recurse(&it, &child)) throw StoreFailure("corrupt BSON at " + pointer);
            boost::json::array array;
            while (bson_iter_next(&child))
                array.push_back(read_value(child, pointer + "/" + std::to_string(array.size())));
            return array;
        }
        case BSON_TYPE_BOOL:
            return bson_iter_bool(&it);
        case BSON_TYPE_NULL:
            return nullptr;
        case BSON_TYPE_INT32:
            return std::int64_t{bson_iter_int32(&it)};
        case BSON_TYPE_INT64:
            return bson_iter_int64(&it);
        default: {
            char type[8];
            std::snprintf(type, sizeof type, "0x%02x", static_cast<unsigned>(bson_iter_type(&it)));
            throw StoreFailure("stored document has an unsupported BSON type " + std::string(type) + " at " +
                               pointer);
        }
    }
}

void append_utf8(bson_t& out, std::string_view key, std::string_view text) {
    if (!bson_append_utf8(&out, key.data(), key_length(key), text.data(), static_cast<int>(text.size())))
        too_large();
}

void append_int64(bson_t& out, std::string_view key, std::int64_t number) {
    if (!bson_append_int64(&out, key.data(), key_length(key), number)) too_large();
}

void append_int32(bson_t& out, std::string_view key, std::int32_t number) {
    if (!bson_append_int32(&out, key.data(), key_length(key), number)) too_large();
}

// A scoped child document or array: begun on construction, ended on end().
class Child {
  public:
    Child(bson_t& parent, std::string_view key, bool array = false) : parent_(parent) {
        bool ok = array ? bson_append_array_begin(&parent, key.data(), key_length(key), &child_)
                        : bson_append_document_begin(&parent, key.data(), key_length(key), &child_);
        if (!ok) too_large();
    }
    bson_t& operator*() { return child_; }
    void end(bool array = false) {
        bool ok =
            array ? bson_append_array_end(&parent_, &child_) : bson_append_document_end(&parent_, &child_);
        if (!ok) too_large();
    }

  private:
    bson_t& parent_;
    bson_t child_;
};

std::string_view mongo_operator(Op op) {
    switch (op) {
        case Op::eq:
            return "$eq";
        case Op::lt:
            return "$lt";
        case Op::le:
            return "$lte";
        case Op::gt:
            return "$gt";
        case Op::ge:
            return "$gte";
    }
    return "$eq";
}

// {<field>: {<op>: <value>}}
void append_condition(bson_t& parent, std::string_view index, std::string_view field, std::string_view op,
                      const boost::json::value& value) {
    Child condition(parent, index);
    Child comparison(*condition, field);
    append_value(*comparison, op, value);
    comparison.end();
    condition.end();
}

void append_events(bson_t& out, std::string_view key, const std::vector<EmbeddedEvent>& events) {
    Child array(out, key, true);
    for_each_index(events.size(), [&](std::string_view index, std::size_t i) {
        Child event(*array, index);
        append_utf8(*event, "id", events[i].id);
        Child body(*event, "body");
        append_object(*body, events[i].body);
        body.end();
        event.end();
    });
    array.end(true);
}

}  // namespace

std::string canonical_json(const bson_t& bson) {
    std::size_t length = 0;
    char* text = bson_as_canonical_extended_json(&bson, &length);
    std::string out(text, length);
    bson_free(text);
    return out;
}

std::string relaxed_json(const bson_t& bson) {
    std::size_t length = 0;
    char* text = bson_as_relaxed_extended_json(&bson, &length);
    std::string out(text, length);
    bson_free(text);
    return out;
}

void append_value(bson_t& out, std::string_view key, const boost::json::value& value) {
    bool ok = true;
    switch (value.kind()) {
        case boost::json::kind::null:
            ok = bson_append_null(&out, key.data(), key_length(key));
            break;
        case boost::json::kind::bool_:
            ok = bson_append_bool(&out, key.data(), key_length(key), value.get_bool());
            break;
        case boost::json::kind::int64:
            ok = bson_append_int64(&out, key.data(), key_length(key), value.get_int64());
            break;
        case boost::json::kind::uint64:
            // BSON has no unsigned integers.
            if (value.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                throw InvalidDocument("integer beyond int64 at member \"" + std::string(key) + "\"");
            }
            ok = bson_append_int64(&out, key.data(), key_length(key),
                                   static_cast<std::int64_t>(value.get_uint64()));
            break;
        case boost::json::kind::double_:
            if (!std::isfinite(value.get_double())) {
                throw InvalidDocument("non-finite number at member \"" + std::string(key) + "\"");
            }
            ok = bson_append_double(&out, key.data(), key_length(key), value.get_double());
            break;
        case boost::json::kind::string:
            append_utf8(out, key, value.get_string());
            break;
        case boost::json::kind::array:
            append_array(out, key, value.get_array());
            break;
        case boost::json::kind::object: {
            Child child(out, key);
            append_object(*child, value.get_object());
            child.end();
            break;
        }
    }
    if (!ok) too_large();
}

Bson to_bson(const boost::json::object& object) {
    Bson out = new_bson();
    append_object(*out, object);
    return out;
}

boost::json::object to_json(const bson_t& bson) {
    bson_iter_t it;
    if (!bson_iter_init(&it, &bson)) throw StoreFailure("corrupt BSON document");
    return read_document(it, "");
}

Bson stored_document(std::string_view id, std::int64_t version, const boost::json::object& body,
                     const std::vector<EmbeddedEvent>& events) {
    Bson out = new_bson();
    append_utf8(*out, kIdKey, id);
    append_int64(*out, kVersionKey, version);
    append_object(*out, body);
    if (!events.empty()) append_events(*out, kOutboxKey, events);
    return out;
}

Document from_stored(const bson_t& stored) {
    Document document;
    bool has_id = false;
    bool has_version = false;
    bson_iter_t it;
    if (!bson_iter_init(&it, &stored)) throw StoreFailure("corrupt BSON document");
    while (bson_iter_next(&it)) {
        std::string_view key(bson_iter_key(&it), bson_iter_key_len(&it));
        if (key == kIdKey && BSON_ITER_HOLDS_UTF8(&it)) {
            std::uint32_t length = 0;
            const char* text = bson_iter_utf8(&it, &length);
            document.id.assign(text, length);
            has_id = true;
        } else if (key == kVersionKey && (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it))) {
            document.version = bson_iter_as_int64(&it);
            has_version = true;
        } else if (key == kOutboxKey) {
            continue;
        } else {
            document.body.emplace(key, read_value(it, "/" + std::string(key)));
        }
    }
    if (!has_id || !has_version)
        throw StoreFailure("stored document without a string _id and an integer _version");
    return document;
}

std::vector<EmbeddedEvent> embedded_events(const bson_t& stored) {
    std::vector<EmbeddedEvent> events;
    bson_iter_t it;
    if (!bson_iter_init_find(&it, &stored, std::string(kOutboxKey).c_str())) return events;
    if (!BSON_ITER_HOLDS_ARRAY(&it)) throw StoreFailure("_outbox is not an array");
    boost::json::value array = read_value(it, "/_outbox");
    for (const boost::json::value& entry : array.get_array()) {
        const auto* event = entry.if_object();
        const auto* id = event != nullptr ? event->if_contains("id") : nullptr;
        const auto* body = event != nullptr ? event->if_contains("body") : nullptr;
        if (id == nullptr || !id->is_string() || body == nullptr || !body->is_object()) {
            throw StoreFailure("malformed _outbox entry");
        }
        events.push_back({std::string(id->get_string()), body->get_object()});
    }
    return events;
}

Bson id_filter(std::string_view id) {
    Bson out = new_bson();
    append_utf8(*out, kIdKey, id);
    return out;
}

Bson version_filter(std::string_view id, std::int64_t version) {
    Bson out = id_filter(id);
    append_int64(*out, kVersionKey, version);
    return out;
}

Bson find_filter(const FindPlan& plan) {
    Bson out = new_bson();
    if (plan.where.empty() && !plan.after) return out;
    Child all(*out, "$and", true);
    std::size_t index = 0;
    auto next_index = [&] { return std::to_string(index++); };
    for (const Condition& condition : plan.where) {
        append_condition(*all, next_index(), condition.field, mongo_operator(condition.op), condition.value);
    }
    if (plan.after) {
        std::string_view after = plan.descending ? "$lt" : "$gt";
        if (plan.order_by == nullptr) {
            append_condition(*all, next_index(), kIdKey, after, boost::json::string(plan.after->id));
        } else {
            // (key, id) strictly after the cursor: a greater key, or the same key and a greater id.
            Child position(*all, next_index());
            Child either(*position, "$or", true);
            append_condition(*either, "0", plan.order_by->name, after, plan.after->key);
            Child same_key(*either, "1");
            {
                Child comparison(*same_key, plan.order_by->name);
                append_value(*comparison, "$eq", plan.after->key);
                comparison.end();
            }
            {
                Child comparison(*same_key, kIdKey);
                append_utf8(*comparison, after, plan.after->id);
                comparison.end();
            }
            same_key.end();
            either.end(true);
            position.end();
        }
    }
    all.end(true);
    return out;
}

Bson find_options(const FindPlan& plan) {
    Bson out = new_bson();
    std::int32_t direction = plan.descending ? -1 : 1;
    Child sort(*out, "sort");
    if (plan.order_by != nullptr) append_int32(*sort, plan.order_by->name, direction);
    append_int32(*sort, kIdKey, direction);
    sort.end();
    append_int64(*out, "limit", static_cast<std::int64_t>(plan.fetch));
    return out;
}

std::vector<std::string> index_names(const CollectionSpec& spec, bool embedded_outbox) {
    std::vector<std::string> names;
    for (const IndexedField& field : spec.fields) {
        names.push_back("ix_" + field.name);
        if (field.unique) names.push_back("ux_" + field.name);
    }
    if (embedded_outbox) names.emplace_back("outbox_pending");
    return names;
}

Bson create_indexes_command(const CollectionSpec& spec, bool embedded_outbox) {
    Bson out = new_bson();
    append_utf8(*out, "createIndexes", spec.name);
    Child indexes(*out, "indexes", true);
    std::size_t index = 0;
    for (const IndexedField& field : spec.fields) {
        {
            Child ordered(*indexes, std::to_string(index++));
            Child key(*ordered, "key");
            append_int32(*key, field.name, 1);
            append_int32(*key, kIdKey, 1);
            key.end();
            append_utf8(*ordered, "name", "ix_" + field.name);
            ordered.end();
        }
        if (field.unique) {
            Child unique(*indexes, std::to_string(index++));
            Child key(*unique, "key");
            append_int32(*key, field.name, 1);
            key.end();
            append_utf8(*unique, "name", "ux_" + field.name);
            if (!bson_append_bool(&*unique, "unique", -1, true)) too_large();
            if (!field.required) {
                // Documents without the field do not take part (else they would all collide on null).
                Child partial(*unique, "partialFilterExpression");
                Child exists(*partial, field.name);
                if (!bson_append_bool(&*exists, "$exists", -1, true)) too_large();
                exists.end();
                partial.end();
            }
            unique.end();
        }
    }
    if (embedded_outbox) {
        Child pending(*indexes, std::to_string(index++));
        Child key(*pending, "key");
        append_int32(*key, "_outbox.id", 1);
        key.end();
        append_utf8(*pending, "name", "outbox_pending");
        if (!bson_append_bool(&*pending, "sparse", -1, true)) too_large();
        pending.end();
    }
    indexes.end(true);
    return out;
}

Bson replace_keeping_outbox(std::int64_t version, const boost::json::object& body,
                            const std::vector<EmbeddedEvent>& events) {
    Bson out = new_bson();  // a pipeline: {"0": stage, "1": stage}
    {
        Child stage(*out, "0");
        Child replace_with(*stage, "$replaceWith");
        Child merge(*replace_with, "$mergeObjects", true);
        {
            Child keep_id(*merge, "0");
            append_utf8(*keep_id, kIdKey, "$_id");
            keep_id.end();
        }
        {
            Child literal(*merge, "1");
            Child document(*literal, "$literal");
            append_int64(*document, kVersionKey, version);
            append_object(*document, body);
            document.end();
            literal.end();
        }
        {
            Child outbox(*merge, "2");
            Child concat(*outbox, kOutboxKey);
            Child arrays(*concat, "$concatArrays", true);
            {
                Child if_null(*arrays, "0");
                Child args(*if_null, "$ifNull", true);
                append_utf8(*args, "0", "$_outbox");
                Child empty(*args, "1", true);
                empty.end(true);
                args.end(true);
                if_null.end();
            }
            {
                Child literal(*arrays, "1");
                append_events(*literal, "$literal", events);
                literal.end();
            }
            arrays.end(true);
            concat.end();
            outbox.end();
        }
        merge.end(true);
        replace_with.end();
        stage.end();
    }
    {
        // {"$set": {"_outbox": {"$cond": [{"$eq": [{"$size": "$_outbox"}, 0]}, "$$REMOVE", "$_outbox"]}}}
        Child stage(*out, "1");
        Child set(*stage, "$set");
        Child field(*set, kOutboxKey);
        Child cond(*field, "$cond", true);
        {
            Child test(*cond, "0");
            Child eq(*test, "$eq", true);
            Child size(*eq, "0");
            append_utf8(*size, "$size", "$_outbox");
            size.end();
            append_int32(*eq, "1", 0);
            eq.end(true);
            test.end();
        }
        append_utf8(*cond, "1", "$$REMOVE");
        append_utf8(*cond, "2", "$_outbox");
        cond.end(true);
        field.end();
        set.end();
        stage.end();
    }
    return out;
}

Bson pull_events(const std::vector<std::string>& event_ids) {
    Bson out = new_bson();
    Child pull(*out, "$pull");
    Child outbox(*pull, kOutboxKey);
    Child id(*outbox, "id");
    Child in(*id, "$in", true);
    for_each_index(event_ids.size(),
                   [&](std::string_view index, std::size_t i) { append_utf8(*in, index, event_ids[i]); });
    in.end(true);
    id.end();
    outbox.end();
    pull.end();
    return out;
}

bool is_transient_transaction_error(const bson_t* reply) {
    return reply != nullptr && mongoc_error_has_label(reply, "TransientTransactionError");
}

void throw_error(const bson_error_t& error, const bson_t* reply, std::string_view collection,
                 std::string_view doing) {
    std::string message = std::string(doing) + ": " + error.message;
    bool from_server = error.domain != MONGOC_ERROR_STREAM && error.domain != MONGOC_ERROR_SERVER_SELECTION &&
                       error.domain != MONGOC_ERROR_CLIENT;
    if (from_server && (error.code == 11000 || error.code == 11001 || error.code == 12582)) {
        // "E11000 duplicate key error collection: db.orders index: ux_email dup key: { … }"
        std::string field = "id";
        std::string_view text(error.message);
        std::size_t at = text.find("index: ");
        if (at != std::string_view::npos) {
            std::string_view index = text.substr(at + 7);
            index = index.substr(0, index.find(' '));
            if (index.starts_with("ux_")) {
                field = std::string(index.substr(3));
            } else if (index != "_id_") {
                field = std::string(index);
            }
        }
        throw DuplicateKey(std::string(collection), field, message);
    }
    if (!from_server || error.domain == MONGOC_ERROR_WRITE_CONCERN) throw StoreUnavailable(message);
    if (reply != nullptr && (mongoc_error_has_label(reply, "RetryableWriteError") ||
                             mongoc_error_has_label(reply, "TransientTransactionError") ||
                             mongoc_error_has_label(reply, "UnknownTransactionCommitResult"))) {
        throw StoreUnavailable(message);
    }
    // The server's retryable error codes: primary stepped down or unreachable, shutting down, …
    switch (error.code) {
        case 6:      // HostUnreachable
        case 7:      // HostNotFound
        case 89:     // NetworkTimeout
        case 91:     // ShutdownInProgress
        case 189:    // PrimarySteppedDown
        case 262:    // ExceededTimeLimit
        case 9001:   // SocketException
        case 10107:  // NotWritablePrimary
        case 11600:  // InterruptedAtShutdown
        case 11602:  // InterruptedDueToReplStateChange
        case 13435:  // NotPrimaryNoSecondaryOk
        case 13436:  // NotPrimaryOrSecondary
        case 63:     // StaleShardVersion
        case 150:    // StaleEpoch
        case 134:    // ReadConcernMajorityNotAvailableYet
        case 50:     // MaxTimeMSExpired
            throw StoreUnavailable(message);
        default:
            throw StoreFailure(message);
    }
}

}  // namespace olympus::documents::mongo
