#pragma once

// The event bus over NATS JetStream (libnats), for the distributed shape.
//
// - Events are published on the subject equal to their type ("olympus.order.created") and stored
//   in the stream of their domain ("OLYMPUS_ORDERS" holds "olympus.order.>"). Every stream the
//   service publishes to or consumes from is listed in the options and created (or updated) at
//   start, by producers and consumers alike, so their start order does not matter.
// - The event id is sent as Nats-Msg-Id, so JetStream stores a re-published event once within the
//   stream's duplicate window (the outbox relay re-publishes after a crash).
// - Subscriptions are durable pull consumers with explicit acks: a worker thread fetches a batch,
//   runs the handler for each event and acks it; a throwing handler's event is nak'ed with a delay
//   (the backoff); an event not acked within ack_wait (the consumer died) is redelivered by the
//   server, to any subscriber of that durable name. Pull consumers let several replicas share one
//   durable name.
// - The connection reconnects by itself (forever, by default); publishes made while it is down
//   wait in libnats's reconnect buffer and fail after the request timeout.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "events/bus.hpp"

namespace olympus::events {

struct StreamSpec {
    std::string name;                   // e.g. "OLYMPUS_ORDERS"
    std::vector<std::string> subjects;  // e.g. {"olympus.order.>"}
};

// The stream of one domain: domain_stream("order") → {"OLYMPUS_ORDERS", {"olympus.order.>"}}.
StreamSpec domain_stream(std::string_view domain);

struct JetStreamOptions {
    // One server or a comma-separated list ("nats://a:4222,nats://b:4222"); tls:// asks for TLS.
    std::string url = "nats://127.0.0.1:4222";
    std::string connection_name = "olympus";  // shown by the server's monitoring (connz)
    std::vector<StreamSpec> streams;

    // Credentials, from the environment or a mounted secret; never logged.
    std::string token;
    std::string user;
    std::string password;
    // TLS: the CA that signs the servers' certificates, and a client certificate when the server
    // asks for one (mutual TLS).
    std::string ca_file;
    std::string cert_file;
    std::string key_file;

    std::chrono::milliseconds connect_timeout{2'000};
    // Between reconnect attempts to one server; -1 attempts means forever (a service outlives a
    // broker restart).
    std::chrono::milliseconds reconnect_wait{250};
    int max_reconnect = -1;
    // Bound on every JetStream request, including waiting for a publish to be stored.
    std::chrono::milliseconds request_timeout{5'000};

    // Stream settings applied when a stream is created or updated.
    std::chrono::seconds max_age = std::chrono::hours(24 * 7);  // events older than this are dropped
    std::chrono::milliseconds duplicate_window{std::chrono::minutes(2)};
    int replicas = 1;  // 3 on a JetStream cluster
    bool memory_storage = false;

    // Pull consumers: events fetched per request, and how long one request waits for events (it
    // also bounds how long stopping a subscription takes).
    int fetch_batch = 64;
    std::chrono::milliseconds fetch_wait{250};
    // Most asynchronous publishes in flight during publish_batch.
    int max_async_pending = 4'096;
};

class JetStreamBus final : public Bus {
  public:
    // Connects and creates or updates every configured stream; throws BusError when the server
    // cannot be reached or refuses a stream, std::invalid_argument on malformed options.
    explicit JetStreamBus(JetStreamOptions options);
    // Closes the connection (as close() does); subscriptions still alive stop receiving.
    ~JetStreamBus() override;
    JetStreamBus(const JetStreamBus&) = delete;
    JetStreamBus& operator=(const JetStreamBus&) = delete;

    void publish(const CloudEvent& event) override;
    // Pipelines the publishes (asynchronous publish, then one wait for all acknowledgements).
    PublishResult publish_batch(std::span<const CloudEvent> events) override;
    // The durable consumer is created in the stream whose subjects cover the filter (std::invalid_argument
    // when no configured stream does), or updated when it exists.
    std::unique_ptr<Subscription> subscribe(SubscribeOptions options, Handler handler) override;
    using Bus::subscribe;

    // Closes the connection at once, without acking anything in flight: what a crash looks like to
    // the server. Publishing afterwards throws BusError.
    void close();
    // Whether the connection is up now (false while reconnecting): for readiness probes.
    bool connected() const;

    struct Shared;

  private:
    std::shared_ptr<Shared> shared_;
};

}  // namespace olympus::events
