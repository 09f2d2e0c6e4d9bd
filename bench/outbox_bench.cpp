// Events per second through the transactional outbox: N events, each added by Outbox::add in a
// transaction of its own (SQLite in a temp dir), published by an OutboxRelay to a JetStream stream
// (the fixture's nats-server -js on 127.0.0.1) and received by a durable consumer, timed until the
// consumer has acknowledged all N distinct events. The peer in the same run: the same N events
// published straight with JetStreamBus::publish_batch (no database) to the same consumer kind.
//
//   outbox_bench [events]      prints TSV lines "TSV\tpath\tevents\tseconds\tevents_per_s"
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/json/object.hpp>

#include "events/jetstream_bus.hpp"
#include "events/outbox.hpp"
#include "metrics/metrics.hpp"
#include "sql/database.hpp"
#include "testing/nats_server.hpp"
#include "testing/process.hpp"

namespace {

using namespace olympus;
using Clock = std::chrono::steady_clock;

// Counts distinct event ids delivered (a redelivery is acknowledged but not counted twice).
class Receiver {
  public:
    void add(const events::CloudEvent& event) {
        std::lock_guard lock(mutex_);
        if (seen_.insert(event.id).second) changed_.notify_all();
    }
    // Seconds from `start` until `n` distinct events have arrived; throws after `timeout`.
    double wait_for(std::size_t n, Clock::time_point start, std::chrono::seconds timeout) {
        std::unique_lock lock(mutex_);
        if (!changed_.wait_until(lock, start + timeout, [&] { return seen_.size() >= n; }))
            throw std::runtime_error("only " + std::to_string(seen_.size()) + " of " + std::to_string(n) +
                                     " events arrived");
        return std::chrono::duration<double>(Clock::now() - start).count();
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::unordered_set<std::string> seen_;
};

events::CloudEvent event(const char* type, int n) {
    boost::json::object data;
    data["order"] = n;
    data["total_cents"] = n * 100;
    return events::CloudEvent::make("/bench", type, "order-" + std::to_string(n), std::move(data));
}

void print(const char* path, int n, double seconds) {
    std::printf("TSV\t%s\t%d\t%.3f\t%.0f\n", path, n, seconds, n / seconds);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) try {
    const int n = argc > 1 ? std::atoi(argv[1]) : 5000;
    testing::TempDir dir;
    testing::NatsServer nats;
    events::JetStreamOptions options;
    options.url = nats.url();
    options.streams = {events::domain_stream("order")};
    events::JetStreamBus bus(options);

    // Peer: publish_batch straight to JetStream, 256 per batch (the relay's batch size).
    {
        Receiver received;
        auto subscription = bus.subscribe("bench_direct", "olympus.order.direct",
                                          [&](const events::CloudEvent& e) { received.add(e); });
        std::vector<events::CloudEvent> all;
        all.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) all.push_back(event("olympus.order.direct", i));
        const auto start = Clock::now();
        for (std::size_t i = 0; i < all.size(); i += 256) {
            const std::size_t count = std::min<std::size_t>(256, all.size() - i);
            const auto result = bus.publish_batch(std::span(all).subspan(i, count));
            if (result.accepted != count) throw std::runtime_error("publish_batch: " + result.error);
        }
        print("direct_publish_batch", n,
              received.wait_for(static_cast<std::size_t>(n), start, std::chrono::seconds(60)));
    }

    // Outbox: one transaction per event, relay woken after each commit.
    {
        auto db = sql::open("sqlite://" + dir.file("outbox.db"));
        events::Outbox::migrate(*db);
        Receiver received;
        auto subscription = bus.subscribe("bench_outbox", "olympus.order.created",
                                          [&](const events::CloudEvent& e) { received.add(e); });
        metrics::Registry registry;
        events::OutboxRelayOptions relay_options;
        relay_options.service = "bench";
        relay_options.poll_interval = std::chrono::milliseconds(20);
        events::OutboxRelay relay(*db, bus, registry, relay_options);
        relay.start();
        std::vector<events::CloudEvent> all;
        all.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) all.push_back(event("olympus.order.created", i));
        const auto start = Clock::now();
        for (const auto& e : all) {
            db->transaction([&](sql::Connection& c) { events::Outbox::add(c, e); });
            relay.wake();
        }
        const double committed = std::chrono::duration<double>(Clock::now() - start).count();
        print("outbox_add_committed", n, committed);
        print("outbox_end_to_end", n,
              received.wait_for(static_cast<std::size_t>(n), start, std::chrono::seconds(120)));
        relay.stop();
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "outbox_bench: " << e.what() << "\n";
    return 1;
}
