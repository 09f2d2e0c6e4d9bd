#pragma once

// The event bus port: publish CloudEvents, and subscribe durable consumers to them with
// at-least-once delivery. Adapters: InProcessBus (the all-in-one default) and JetStreamBus (NATS
// JetStream, the distributed shape). Domain code sees only this header.
//
// Delivery contract, the same for every adapter:
// - publish() returns once the bus has accepted the event (JetStream: stored in its stream) and
//   throws BusError otherwise; the transactional outbox builds on that to publish exactly the
//   events that were committed.
// - A subscription has a durable name. Events matching its type filter that arrive while no
//   subscription of that name runs are kept for it, and a new subscription with the same name picks
//   them up. Several subscriptions with one durable name share its events (competing consumers).
// - The handler's return acknowledges the event; an exception asks for redelivery after a backoff.
//   An event whose handler did not return (the process died, the connection dropped) is delivered
//   again. After max_deliver attempts the event is dropped and logged as an error.
// - Hence an event may arrive more than once: handlers must be idempotent, most simply by wrapping
//   them in deduplicated() below.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "events/cloud_event.hpp"

namespace olympus::events {

// The bus could not accept or deliver an event (broker unreachable, timeout, refused).
class BusError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Runs for each delivered event: returning acknowledges it, throwing asks for redelivery.
using Handler = std::function<void(const CloudEvent&)>;

struct SubscribeOptions {
    // Names the consumer's position in the event stream; letters, digits, '-' and '_' (JetStream
    // forbids '.', '*', '>' and whitespace in durable names).
    std::string durable_name;
    // Which event types to receive, in NATS subject syntax over the dotted type: an exact type
    // ("olympus.order.created"), '*' for one token ("olympus.*.created"), '>' for the rest
    // ("olympus.order.>"). A filter stays within one domain: with JetStream a consumer belongs to
    // one stream.
    std::string type_filter;
    // How long a delivered event may stay unacknowledged before the bus delivers it again (to this
    // or another subscriber): longer than the slowest handler, short enough to recover quickly from
    // a crashed consumer.
    std::chrono::milliseconds ack_wait{30'000};
    // Deliveries of one event before it is given up (logged as an error, not delivered again).
    int max_deliver = 10;
    // After a handler throws, redelivery waits retry_backoff, doubled per attempt up to
    // max_retry_backoff, so that a failing dependency is not hammered.
    std::chrono::milliseconds retry_backoff{100};
    std::chrono::milliseconds max_retry_backoff{30'000};
    // A durable created for the first time starts with the next event published instead of every
    // event the stream still holds (JetStream only; the in-process bus keeps no history).
    bool deliver_new_only = false;
};

// A running consumer. Destroying it stops delivery: the handler running at that moment finishes
// (and its event is acknowledged if it returns), events not yet handled stay with the durable name.
class Subscription {
  public:
    virtual ~Subscription() = default;
};

// The outcome of publish_batch: the first `accepted` events were accepted, in order; when that is
// fewer than were given, `error` says why and the rest must be published again.
struct PublishResult {
    std::size_t accepted = 0;
    std::string error;
};

class Bus {
  public:
    virtual ~Bus() = default;

    // Returns once the bus has durably accepted the event; throws BusError when it could not, and
    // InvalidEvent when the event cannot be sent (missing attributes, a type that is not a valid
    // subject). Publishing an event id again is harmless: JetStream stores it once within its
    // duplicate window, and consumers de-duplicate by id.
    virtual void publish(const CloudEvent& event) = 0;
    // Publishes events in order, pipelined where the adapter can; never throws BusError (the result
    // says how far it got).
    virtual PublishResult publish_batch(std::span<const CloudEvent> events);

    // Throws std::invalid_argument on a malformed durable name or filter, BusError when the broker
    // refuses the consumer.
    virtual std::unique_ptr<Subscription> subscribe(SubscribeOptions options, Handler handler) = 0;
    std::unique_ptr<Subscription> subscribe(std::string durable_name, std::string type_filter,
                                            Handler handler);
};

// Event types travel as subjects: dot-separated non-empty tokens of printable ASCII other than
// '*' and '>'. Throws InvalidEvent otherwise.
void check_event_type(std::string_view type);
bool valid_type_filter(std::string_view filter);
bool valid_durable_name(std::string_view name);
// NATS subject matching of a (wildcard-free) event type against a filter.
bool type_matches(std::string_view filter, std::string_view type);
// True when every type `filter` matches is also matched by `pattern` (a stream's subject covers a
// consumer's filter).
bool filter_covers(std::string_view pattern, std::string_view filter);
// The delay before redelivery attempt `attempt` (1 = the first redelivery).
std::chrono::milliseconds retry_delay(const SubscribeOptions& options, int attempt);

// Remembers which events a consumer has processed, so that a redelivered event is recognised.
// The in-memory implementation serves the in-process bus and tests; services with a database keep
// the record in the same transaction as the handler's changes (see the outbox module).
class ProcessedEvents {
  public:
    virtual ~ProcessedEvents() = default;
    // Records the id and returns true the first time it is seen, false afterwards.
    virtual bool first_time(std::string_view event_id) = 0;
    // Removes the record of an event whose processing failed, so that its redelivery runs again.
    virtual void forget(std::string_view event_id) = 0;
};

// Keeps the most recent `capacity` ids: enough to catch the redeliveries of a broker, whose window
// is bounded (ack wait × max deliver), without growing for ever.
class InMemoryProcessedEvents final : public ProcessedEvents {
  public:
    explicit InMemoryProcessedEvents(std::size_t capacity = 100'000) : capacity_(capacity) {}

    bool first_time(std::string_view event_id) override;
    void forget(std::string_view event_id) override;
    std::size_t size() const;

  private:
    mutable std::mutex mutex_;
    std::size_t capacity_;
    std::uint64_t next_ = 0;
    std::unordered_map<std::string, std::uint64_t> seen_;  // id → insertion number
    std::deque<std::pair<std::uint64_t, std::string>> order_;
};

// A handler that runs `handler` once per event id: a duplicate is acknowledged without running it;
// when the handler throws, the id is forgotten so the redelivery is processed.
Handler deduplicated(ProcessedEvents& processed, Handler handler);

}  // namespace olympus::events
