#pragma once

// The transactional outbox: a service writes its event into the `outbox` table in the same
// transaction as the change the event announces, so that either both happen or neither does. A
// relay thread then publishes pending events to the bus in order, marks them sent, and retries with
// backoff while the bus is down. Publishing is at least once: a relay that dies after publishing but
// before marking re-publishes on restart (JetStream drops the copy within its duplicate window, and
// consumers de-duplicate by event id anyway).
//
//   db.transaction([&](sql::Connection& c) {
//       c.exec(kInsertOrder, ...);
//       Outbox::add(c, CloudEvent::make("/poseidon", "olympus.order.created", order_id, data, &trace));
//   });
//   relay.wake();  // optional: publish now rather than at the next poll
//
// On the consuming side, exactly_once() runs a handler and records the event id in
// processed_events within one transaction, so a redelivered event changes nothing twice.
//
// Tables (see Outbox::migrations, applied under the schema name "olympus_outbox"):
//   outbox(seq, id, event_json, created_at, sent_at, attempts, next_attempt_at, last_error)
//   outbox_lease(name, owner, expires_at)   one relay at a time among replicas sharing a database
//   processed_events(consumer, event_id, processed_at)
// Times are Unix milliseconds (BIGINT), which both engines compare and index the same way.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "events/bus.hpp"
#include "events/cloud_event.hpp"
#include "metrics/metrics.hpp"
#include "sql/database.hpp"
#include "sql/migrations.hpp"

namespace olympus::events {

struct Outbox {
    // The name the outbox's migrations are recorded under in schema_migrations.
    static constexpr std::string_view kSchema = "olympus_outbox";

    // Writes the event within the caller's transaction (std::logic_error when `connection` is not in
    // one: an outbox row written on its own would defeat the point). Throws InvalidEvent for an
    // event that could never be published (missing attributes, a type unusable as a subject) and
    // sql::UniqueViolation when an event with this id is already in the outbox.
    static void add(sql::Connection& connection, const CloudEvent& event);

    // The outbox tables for both dialects.
    static std::vector<sql::Migration> migrations();
    // Applies them (idempotent; safe when several replicas start together).
    static void migrate(sql::Database& db);

    // Events not yet published (the backlog).
    static std::int64_t pending(sql::Database& db);
};

struct OutboxRelayOptions {
    // Labels the relay's metrics and owns its lease: the service whose outbox it drains.
    std::string service = "olympus";
    // Events read and published per pass; a full batch starts the next pass at once.
    std::size_t batch_size = 256;
    // How often the table is looked at when nothing woke the relay.
    std::chrono::milliseconds poll_interval{200};
    // After a failed publish the head event waits retry_backoff, doubled per attempt up to
    // max_retry_backoff (persisted in next_attempt_at, so a restarted relay waits too).
    std::chrono::milliseconds retry_backoff{200};
    std::chrono::milliseconds max_retry_backoff{std::chrono::seconds(30)};
    // Replicas sharing a database take turns: the relay holding the lease publishes, the others wait.
    // A crashed holder's lease expires after this.
    std::chrono::milliseconds lease_duration{std::chrono::seconds(10)};
    // Sent rows are deleted after this long (they are only kept to look into incidents).
    std::chrono::hours keep_sent{24};
    // stop() keeps publishing what is pending for at most this long.
    std::chrono::milliseconds flush_timeout{std::chrono::seconds(5)};
};

class OutboxRelay {
  public:
    // Registers olympus_outbox_backlog (gauge) and olympus_outbox_published_total (counter), both
    // labelled by service. The outbox tables must exist (Outbox::migrate). Does not start the
    // thread: call start(). A relay is started once; stop() on one never started does nothing.
    OutboxRelay(sql::Database& db, Bus& bus, metrics::Registry& registry, OutboxRelayOptions options = {});
    // Stops (with the flush attempt) when still running.
    ~OutboxRelay();
    OutboxRelay(const OutboxRelay&) = delete;
    OutboxRelay& operator=(const OutboxRelay&) = delete;

    void start();
    // Asks the thread to finish: one last attempt to publish what is pending (bounded by
    // flush_timeout), then it is joined. Idempotent.
    void stop();
    // Publish now rather than at the next poll (e.g. right after a transaction added events).
    void wake();

    // One pass on the calling thread: takes the lease, publishes up to batch_size pending events in
    // seq order and marks the accepted ones sent; on a bus failure records the attempt and the next
    // attempt time of the first unaccepted event. Returns how many were published; 0 when the lease
    // is another relay's or the head event is waiting for its retry time. Throws sql::Error.
    std::size_t publish_pending();

    // Unpublished events, as of the last pass (the gauge's value).
    std::int64_t backlog() const { return backlog_.load(); }

  private:
    void run();
    bool take_lease(std::int64_t now_ms);
    void delete_old_sent(std::int64_t now_ms);

    sql::Database& db_;
    Bus& bus_;
    OutboxRelayOptions options_;
    std::string owner_;  // this relay's lease identity
    metrics::Gauge backlog_gauge_;
    metrics::Counter published_;
    std::atomic<std::int64_t> backlog_{0};
    std::int64_t next_cleanup_ms_ = 0;
    std::int64_t lease_expires_ms_ = 0;  // when the lease this relay holds runs out, 0 when it holds none

    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_requested_ = false;  // guarded by mutex_
    bool woken_ = false;           // guarded by mutex_
    std::thread thread_;
};

// The processed_events record of one consumer, kept on the connection of the caller's transaction
// (std::logic_error outside one), so that the record commits or rolls back with the handler's own
// changes: a crash between the two cannot lose an event or apply it twice.
class SqlProcessedEvents final : public ProcessedEvents {
  public:
    SqlProcessedEvents(sql::Connection& connection, std::string consumer);
    bool first_time(std::string_view event_id) override;
    void forget(std::string_view event_id) override;

  private:
    sql::Connection& connection_;
    std::string consumer_;
};

// Runs `handler` with the event in one transaction that also records the event id for `consumer`
// in processed_events: a redelivered event finds its id and is acknowledged without running the
// handler again, and a handler that throws rolls its record back with everything else. The
// consumer name is usually the subscription's durable name.
Handler exactly_once(sql::Database& db, std::string consumer,
                     std::function<void(sql::Connection&, const CloudEvent&)> handler);

// Deletes processed_events records older than `age` (a redelivery cannot come that late: keep it
// well above ack_wait × max_deliver). Returns how many were deleted.
std::int64_t prune_processed_events(sql::Database& db, std::chrono::hours age);

}  // namespace olympus::events
