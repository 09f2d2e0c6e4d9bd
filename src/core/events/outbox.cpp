#include "events/outbox.hpp"

#include <algorithm>
#include <optional>

#include "log/log.hpp"

namespace olympus::events {
namespace {

// ---- Schema -------------------------------------------------------------------------------------

// Event ids longer than this are refused: 191 characters keep the unique key within InnoDB's index
// limits in utf8mb4 (ours are 36-character UUIDs).
constexpr std::size_t kMaxEventIdLength = 191;
constexpr std::size_t kMaxErrorLength = 1000;

constexpr std::string_view kCreateOutboxSqlite =
    "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
    "event_json TEXT NOT NULL, created_at INTEGER NOT NULL, sent_at INTEGER, "
    "attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT)";
// Partial indexes: the relay reads the pending head, the cleanup the old sent rows.
constexpr std::string_view kIndexPendingSqlite =
    "CREATE INDEX outbox_pending ON outbox (seq) WHERE sent_at IS NULL";
constexpr std::string_view kIndexSentSqlite =
    "CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL";
// One statement per MariaDB migration: its DDL commits implicitly (see sql/migrations.hpp).
constexpr std::string_view kCreateOutboxMariaDb =
    "CREATE TABLE outbox (seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
    "id VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, event_json MEDIUMTEXT NOT NULL, "
    "created_at BIGINT NOT NULL, sent_at BIGINT NULL, attempts INT NOT NULL DEFAULT 0, "
    "next_attempt_at BIGINT NOT NULL DEFAULT 0, last_error VARCHAR(1000) NULL, UNIQUE KEY outbox_id (id), "
    "KEY outbox_pending (sent_at, seq)) ENGINE=InnoDB";

constexpr std::string_view kCreateLeaseSqlite =
    "CREATE TABLE outbox_lease (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)";
constexpr std::string_view kCreateLeaseMariaDb =
    "CREATE TABLE outbox_lease (name VARCHAR(100) NOT NULL PRIMARY KEY, owner VARCHAR(100) NOT NULL, "
    "expires_at BIGINT NOT NULL) ENGINE=InnoDB";

constexpr std::string_view kCreateProcessedSqlite =
    "CREATE TABLE processed_events (consumer TEXT NOT NULL, event_id TEXT NOT NULL, "
    "processed_at INTEGER NOT NULL, PRIMARY KEY (consumer, event_id)) WITHOUT ROWID";
constexpr std::string_view kIndexProcessedSqlite =
    "CREATE INDEX processed_events_age ON processed_events (processed_at)";
constexpr std::string_view kCreateProcessedMariaDb =
    "CREATE TABLE processed_events (consumer VARCHAR(100) NOT NULL, event_id VARCHAR(191) CHARACTER SET "
    "utf8mb4 COLLATE utf8mb4_bin NOT NULL, processed_at BIGINT NOT NULL, PRIMARY KEY (consumer, event_id), "
    "KEY processed_events_age (processed_at)) ENGINE=InnoDB";

// ---- Queries ------------------------------------------------------------------------------------

constexpr std::string_view kInsertEvent =
    "INSERT INTO outbox (id, event_json, created_at, attempts, next_attempt_at) VALUES (?, ?, ?, 0, 0)";
constexpr std::string_view kSelectPending =
    "SELECT seq, event_json, attempts, next_attempt_at FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT "
    "?";
constexpr std::string_view kCountPending = "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL";
// Rows are marked by their seq, never by a range: a transaction that commits late may have taken a
// seq inside the range, and its event is not published yet. Sixteen per statement saves round trips
// (a short chunk repeats its last seq).
constexpr std::size_t kMarkChunk = 16;
constexpr std::string_view kMarkSent =
    "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL "
    "WHERE seq IN (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr std::string_view kMarkFailed =
    "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE seq = ?";
// An event that can never be published (its row no longer parses) is set aside as "sent" with the
// reason, rather than blocking every event behind it.
constexpr std::string_view kMarkDropped = "UPDATE outbox SET sent_at = ?, last_error = ? WHERE seq = ?";
constexpr std::string_view kDeleteSentSqlite =
    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ? LIMIT "
    "1000)";
constexpr std::string_view kDeleteSentMariaDb =
    "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ? ORDER BY sent_at LIMIT 1000";

constexpr std::string_view kEnsureLeaseSqlite =
    "INSERT OR IGNORE INTO outbox_lease (name, owner, expires_at) VALUES (?, '', 0)";
constexpr std::string_view kEnsureLeaseMariaDb =
    "INSERT IGNORE INTO outbox_lease (name, owner, expires_at) VALUES (?, '', 0)";
constexpr std::string_view kTakeLease =
    "UPDATE outbox_lease SET owner = ?, expires_at = ? WHERE name = ? AND (owner = ? OR expires_at < ?)";
constexpr std::string_view kReleaseLease =
    "UPDATE outbox_lease SET expires_at = 0 WHERE name = ? AND owner = ?";

constexpr std::string_view kRecordProcessedSqlite =
    "INSERT OR IGNORE INTO processed_events (consumer, event_id, processed_at) VALUES (?, ?, ?)";
constexpr std::string_view kRecordProcessedMariaDb =
    "INSERT IGNORE INTO processed_events (consumer, event_id, processed_at) VALUES (?, ?, ?)";
constexpr std::string_view kForgetProcessed =
    "DELETE FROM processed_events WHERE consumer = ? AND event_id = ?";
constexpr std::string_view kPruneProcessed = "DELETE FROM processed_events WHERE processed_at < ?";

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::chrono::milliseconds backoff(const OutboxRelayOptions& options, std::int64_t attempts) {
    auto delay = options.retry_backoff;
    for (std::int64_t i = 1; i < attempts && delay < options.max_retry_backoff; ++i) delay *= 2;
    return std::min(delay, options.max_retry_backoff);
}

std::string truncate(std::string text) {
    if (text.size() > kMaxErrorLength) text.resize(kMaxErrorLength);
    return text;
}

}  // namespace

// ---- Outbox -------------------------------------------------------------------------------------

void Outbox::add(sql::Connection& connection, const CloudEvent& event) {
    if (!connection.in_transaction()) {
        throw std::logic_error("Outbox::add: call it inside the transaction that makes the change");
    }
    check_event_type(event.type);
    if (event.id.size() > kMaxEventIdLength) throw InvalidEvent("CloudEvent attribute 'id': longer than 191");
    connection.exec(kInsertEvent, event.id, event.serialize(), now_ms());
}

std::vector<sql::Migration> Outbox::migrations() {
    return {
        {1, "outbox", {kCreateOutboxSqlite, kIndexPendingSqlite, kIndexSentSqlite}, {kCreateOutboxMariaDb}},
        {2, "outbox relay lease", {kCreateLeaseSqlite}, {kCreateLeaseMariaDb}},
        {3, "processed events", {kCreateProcessedSqlite, kIndexProcessedSqlite}, {kCreateProcessedMariaDb}},
    };
}

void Outbox::migrate(sql::Database& db) {
    const auto list = migrations();
    sql::migrate(db, kSchema, list);
}

std::int64_t Outbox::pending(sql::Database& db) {
    return db.read([](sql::Connection& c) { return c.query_one(kCountPending)->get<std::int64_t>(0); });
}

// ---- Relay --------------------------------------------------------------------------------------

OutboxRelay::OutboxRelay(sql::Database& db, Bus& bus, metrics::Registry& registry, OutboxRelayOptions options)
    : db_(db), bus_(bus), options_(std::move(options)), owner_(new_event_id()) {
    if (options_.batch_size == 0) throw std::invalid_argument("outbox relay: batch_size must be positive");
    backlog_gauge_ = registry
                         .gauge("olympus_outbox_backlog",
                                "Events written to the outbox and not yet published.", {"service"})
                         .labels({options_.service});
    published_ = registry
                     .counter("olympus_outbox_published_total",
                              "Events the outbox relay published to the bus.", {"service"})
                     .labels({options_.service});
    const auto ensure = db_.dialect() == sql::Dialect::sqlite ? kEnsureLeaseSqlite : kEnsureLeaseMariaDb;
    db_.write([&](sql::Connection& c) { c.exec(ensure, options_.service); });
    backlog_ = Outbox::pending(db_);
    backlog_gauge_.set(static_cast<double>(backlog_.load()));
}

OutboxRelay::~OutboxRelay() {
    stop();
}

void OutboxRelay::start() {
    std::lock_guard lock(mutex_);
    if (thread_.joinable() || stop_requested_) return;
    thread_ = std::thread([this] { run(); });
}

void OutboxRelay::stop() {
    {
        std::lock_guard lock(mutex_);
        stop_requested_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void OutboxRelay::wake() {
    {
        std::lock_guard lock(mutex_);
        woken_ = true;
    }
    wake_.notify_all();
}

void OutboxRelay::run() {
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (stop_requested_) break;
        }
        std::size_t handled = 0;
        try {
            handled = publish_pending();
        } catch (const std::exception& e) {
            // The database is unreachable or busy: try again at the next poll.
            log::warn("outbox relay pass failed",
                      {{"service.name", options_.service}, {"error.message", e.what()}});
        }
        if (handled >= options_.batch_size) continue;  // more is waiting
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, options_.poll_interval, [&] { return stop_requested_ || woken_; });
        woken_ = false;
    }
    // The flush: what was committed before shutdown is published now if the bus takes it.
    const auto deadline = std::chrono::steady_clock::now() + options_.flush_timeout;
    try {
        while (std::chrono::steady_clock::now() < deadline) {
            if (publish_pending() == 0) break;
        }
        if (backlog_.load() > 0) {
            log::warn("outbox relay stopped with events still pending; they are published at the next start",
                      {{"service.name", options_.service}, {"event.backlog", backlog_.load()}});
        }
        db_.write([&](sql::Connection& c) { c.exec(kReleaseLease, options_.service, owner_); });
        lease_expires_ms_ = 0;
    } catch (const std::exception& e) {
        log::warn("outbox relay flush failed",
                  {{"service.name", options_.service}, {"error.message", e.what()}});
    }
}

bool OutboxRelay::take_lease(std::int64_t now) {
    const auto duration = options_.lease_duration.count();
    // Renewed when half used up, not at every poll: an idle relay should not write several times a second.
    if (now < lease_expires_ms_ - duration / 2) return true;
    const auto result = db_.write([&](sql::Connection& c) {
        return c.exec(kTakeLease, owner_, now + duration, options_.service, owner_, now);
    });
    lease_expires_ms_ = result.rows_affected == 1 ? now + duration : 0;
    return result.rows_affected == 1;
}

void OutboxRelay::delete_old_sent(std::int64_t now) {
    if (now < next_cleanup_ms_) return;
    next_cleanup_ms_ = now + 60'000;  // once a minute is plenty
    const auto cutoff =
        now - std::chrono::duration_cast<std::chrono::milliseconds>(options_.keep_sent).count();
    const auto sql = db_.dialect() == sql::Dialect::sqlite ? kDeleteSentSqlite : kDeleteSentMariaDb;
    db_.write([&](sql::Connection& c) { c.exec(sql, cutoff); });
}

std::size_t OutboxRelay::publish_pending() {
    const std::int64_t now = now_ms();
    if (!take_lease(now)) return 0;
    delete_old_sent(now);

    struct Row {
        std::int64_t seq;
        std::int64_t attempts;
    };
    std::vector<Row> rows;
    std::vector<CloudEvent> events;
    std::optional<std::pair<std::int64_t, std::string>> unreadable;  // seq, why
    db_.read([&](sql::Connection& c) {
        for (const auto& row : c.query(kSelectPending, static_cast<std::int64_t>(options_.batch_size))) {
            // The head waits for its retry time, and everything behind it with it: order matters more.
            if (rows.empty() && row.get<std::int64_t>(3) > now) return;
            const auto seq = row.get<std::int64_t>(0);
            try {
                events.push_back(CloudEvent::parse(row.get<std::string_view>(1)));
            } catch (const InvalidEvent& e) {
                if (rows.empty()) unreadable.emplace(seq, e.what());  // else: publish what precedes it first
                return;
            }
            rows.push_back({seq, row.get<std::int64_t>(2)});
        }
    });
    if (unreadable) {
        log::error("outbox row is not a valid event; set aside", {{"service.name", options_.service},
                                                                  {"event.sequence", unreadable->first},
                                                                  {"error.message", unreadable->second}});
        db_.write([&](sql::Connection& c) {
            c.exec(kMarkDropped, now, truncate(unreadable->second), unreadable->first);
        });
    }

    std::size_t accepted = 0;
    if (!events.empty()) {
        const PublishResult result = bus_.publish_batch(events);
        accepted = std::min(result.accepted, events.size());
        db_.transaction([&](sql::Connection& c) {
            const std::int64_t sent_at = now_ms();
            for (std::size_t first = 0; first < accepted; first += kMarkChunk) {
                auto& statement = c.prepare(kMarkSent);
                statement.bind(1, sent_at);
                for (std::size_t i = 0; i < kMarkChunk; ++i) {
                    statement.bind(static_cast<int>(i) + 2, rows[std::min(first + i, accepted - 1)].seq);
                }
                statement.exec();
            }
            if (accepted < rows.size()) {
                const auto& failed = rows[accepted];
                const auto attempts = failed.attempts + 1;
                const auto delay = backoff(options_, attempts);
                c.exec(kMarkFailed, attempts, now_ms() + delay.count(), truncate(result.error), failed.seq);
                log::warn("outbox relay could not publish; retrying", {{"service.name", options_.service},
                                                                       {"event.id", events[accepted].id},
                                                                       {"event.attempts", attempts},
                                                                       {"event.retry_in_ms", delay.count()},
                                                                       {"error.message", result.error}});
            }
        });
        published_.inc(static_cast<double>(accepted));
    }
    backlog_ = Outbox::pending(db_);
    backlog_gauge_.set(static_cast<double>(backlog_.load()));
    return accepted + (unreadable ? 1 : 0);
}

// ---- Consumers ----------------------------------------------------------------------------------

SqlProcessedEvents::SqlProcessedEvents(sql::Connection& connection, std::string consumer)
    : connection_(connection), consumer_(std::move(consumer)) {
    if (!connection_.in_transaction()) {
        throw std::logic_error("SqlProcessedEvents: use it inside the transaction of the handler's changes");
    }
}

bool SqlProcessedEvents::first_time(std::string_view event_id) {
    // Concurrent deliveries of one event serialise on the key: the second sees the first's record
    // once it commits, or inserts its own if the first rolled back.
    const auto record =
        connection_.dialect() == sql::Dialect::sqlite ? kRecordProcessedSqlite : kRecordProcessedMariaDb;
    return connection_.exec(record, consumer_, event_id, now_ms()).rows_affected == 1;
}

void SqlProcessedEvents::forget(std::string_view event_id) {
    connection_.exec(kForgetProcessed, consumer_, event_id);
}

Handler exactly_once(sql::Database& db, std::string consumer,
                     std::function<void(sql::Connection&, const CloudEvent&)> handler) {
    return [&db, consumer = std::move(consumer), handler = std::move(handler)](const CloudEvent& event) {
        db.transaction([&](sql::Connection& c) {
            SqlProcessedEvents processed(c, consumer);
            if (processed.first_time(event.id)) handler(c, event);
        });
    };
}

std::int64_t prune_processed_events(sql::Database& db, std::chrono::hours age) {
    const auto cutoff = now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(age).count();
    return db.write([&](sql::Connection& c) { return c.exec(kPruneProcessed, cutoff).rows_affected; });
}

}  // namespace olympus::events
