// The event bus contract (bus.hpp), run against every adapter: the in-process bus and JetStream on
// a real nats-server.

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "events/bus.hpp"
#include "events/bus_test_support.hpp"
#include "events/in_process_bus.hpp"
#include "events/jetstream_bus.hpp"
#include "testing/nats_server.hpp"
#include "trace/trace_context.hpp"

namespace olympus::events {
namespace {

using namespace std::chrono_literals;
using test_support::order_event;
using test_support::Received;

enum class Adapter { in_process, jetstream };

class BusContract : public ::testing::TestWithParam<Adapter> {
  protected:
    void SetUp() override {
        if (GetParam() == Adapter::jetstream) {
            nats_ = std::make_unique<olympus::testing::NatsServer>();
            JetStreamOptions options;
            options.url = nats_->url();
            options.streams = {domain_stream("order"), domain_stream("user")};
            options.fetch_wait = 100ms;
            bus_ = std::make_unique<JetStreamBus>(std::move(options));
        } else {
            bus_ = std::make_unique<InProcessBus>();
        }
    }

    static SubscribeOptions options(std::string durable, std::string filter) {
        SubscribeOptions o;
        o.durable_name = std::move(durable);
        o.type_filter = std::move(filter);
        o.retry_backoff = 20ms;
        o.max_retry_backoff = 100ms;
        return o;
    }

    std::unique_ptr<Subscription> collect(std::string durable, std::string filter, Received& into) {
        return bus_->subscribe(options(std::move(durable), std::move(filter)),
                               [&into](const CloudEvent& event) { into.add(event); });
    }

    std::unique_ptr<olympus::testing::NatsServer> nats_;  // outlives the bus
    std::unique_ptr<Bus> bus_;
};

TEST_P(BusContract, DeliversPublishedEventsUnchanged) {
    Received received;
    auto subscription = collect("billing", "olympus.order.>", received);
    const auto trace = trace::TraceContext::start();
    CloudEvent created = CloudEvent::make("/poseidon", "olympus.order.created", "ord_1",
                                          boost::json::object{{"total", 1250}, {"currency", "EUR"}}, &trace);
    created.set_extension("partitionkey", "ord_1");
    bus_->publish(created);
    ASSERT_TRUE(received.wait_for(1));
    EXPECT_EQ(received.events().front(), created);
    EXPECT_EQ(received.events().front().trace_context().trace_id_hex(), trace.trace_id_hex());
}

TEST_P(BusContract, FiltersSelectEventTypes) {
    Received all_orders, created_only, one_token;
    auto a = collect("all-orders", "olympus.order.>", all_orders);
    auto b = collect("created-only", "olympus.order.created", created_only);
    auto c = collect("one-token", "olympus.order.*", one_token);
    bus_->publish(order_event("created", 1));
    bus_->publish(order_event("status_changed", 1));
    bus_->publish(order_event("line.added", 1));
    bus_->publish(CloudEvent::make("/hera", "olympus.user.created", "usr_1", boost::json::object{}));
    ASSERT_TRUE(all_orders.wait_for(3));
    ASSERT_TRUE(created_only.wait_for(1));
    ASSERT_TRUE(one_token.wait_for(2));
    std::this_thread::sleep_for(300ms);  // time for a wrong delivery to show up
    EXPECT_EQ(all_orders.size(), 3u);
    ASSERT_EQ(created_only.size(), 1u);
    EXPECT_EQ(created_only.events()[0].type, "olympus.order.created");
    ASSERT_EQ(one_token.size(), 2u);
    EXPECT_EQ(one_token.events()[1].type, "olympus.order.status_changed");
}

TEST_P(BusContract, RedeliversAfterTheHandlerThrows) {
    Received attempts;
    std::atomic<int> calls{0};
    auto subscription = bus_->subscribe(options("flaky", "olympus.order.>"), [&](const CloudEvent& event) {
        attempts.add(event);
        if (++calls < 3) throw std::runtime_error("downstream unavailable");
    });
    const CloudEvent event = order_event("created", 7);
    bus_->publish(event);
    ASSERT_TRUE(attempts.wait_for(3));
    std::this_thread::sleep_for(300ms);  // acknowledged on the third attempt: no fourth
    EXPECT_EQ(attempts.size(), 3u);
    for (const auto& id : attempts.ids()) EXPECT_EQ(id, event.id);
}

TEST_P(BusContract, GivesUpAfterMaxDeliver) {
    Received attempts;
    auto o = options("hopeless", "olympus.order.>");
    o.max_deliver = 2;
    auto subscription = bus_->subscribe(o, [&](const CloudEvent& event) {
        attempts.add(event);
        throw std::runtime_error("always fails");
    });
    bus_->publish(order_event("created", 1));
    ASSERT_TRUE(attempts.wait_for(2));
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(attempts.size(), 2u);
    // The consumer is not stuck behind the dropped event.
    Received later;
    subscription.reset();
    auto next = collect("hopeless", "olympus.order.>", later);
    bus_->publish(order_event("created", 2));
    ASSERT_TRUE(later.wait_for(1));
    EXPECT_EQ(later.events().back().subject, "ord_2");
}

TEST_P(BusContract, KeepsEventsForADurableWhileNoSubscriptionRuns) {
    Received first;
    collect("mailer", "olympus.order.>", first).reset();  // the durable now exists
    for (int i = 0; i < 3; ++i) bus_->publish(order_event("created", i));
    Received second;
    auto resumed = collect("mailer", "olympus.order.>", second);
    ASSERT_TRUE(second.wait_for(3));
    EXPECT_EQ(first.size(), 0u);
    EXPECT_EQ(second.events()[2].subject, "ord_2");
}

TEST_P(BusContract, EveryDurableGetsEveryEvent) {
    Received a, b;
    auto sa = collect("durable-a", "olympus.order.>", a);
    auto sb = collect("durable-b", "olympus.order.>", b);
    for (int i = 0; i < 5; ++i) bus_->publish(order_event("created", i));
    ASSERT_TRUE(a.wait_for(5));
    ASSERT_TRUE(b.wait_for(5));
    EXPECT_EQ(a.ids(), b.ids());
}

TEST_P(BusContract, SubscriptionsOfOneDurableShareItsEvents) {
    Received one, two;
    auto s1 = collect("workers", "olympus.order.>", one);
    auto s2 = collect("workers", "olympus.order.>", two);
    std::set<std::string> published;
    for (int i = 0; i < 40; ++i) {
        const auto event = order_event("created", i);
        published.insert(event.id);
        bus_->publish(event);
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (one.size() + two.size() < 40 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(200ms);
    std::multiset<std::string> delivered;
    for (const auto& id : one.ids()) delivered.insert(id);
    for (const auto& id : two.ids()) delivered.insert(id);
    EXPECT_EQ(delivered.size(), 40u);  // each once: no event handled by both
    EXPECT_EQ(std::set<std::string>(delivered.begin(), delivered.end()), published);
}

TEST_P(BusContract, ManyEventsArriveInPublishOrder) {
    Received received;
    auto subscription = collect("ordered", "olympus.order.>", received);
    std::vector<std::string> published;
    for (int i = 0; i < 300; ++i) {
        const auto event = order_event(i % 2 == 0 ? "created" : "status_changed", i);
        published.push_back(event.id);
        bus_->publish(event);
    }
    ASSERT_TRUE(received.wait_for(300, 20s));
    EXPECT_EQ(received.ids(), published);
}

TEST_P(BusContract, BatchPublishesInOrder) {
    Received received;
    auto subscription = collect("batched", "olympus.order.>", received);
    std::vector<CloudEvent> batch;
    for (int i = 0; i < 200; ++i) batch.push_back(order_event("created", i));
    const PublishResult result = bus_->publish_batch(batch);
    EXPECT_EQ(result.accepted, 200u) << result.error;
    EXPECT_TRUE(result.error.empty());
    ASSERT_TRUE(received.wait_for(200, 20s));
    const auto ids = received.ids();
    for (std::size_t i = 0; i < batch.size(); ++i) EXPECT_EQ(ids[i], batch[i].id);
}

TEST_P(BusContract, BatchStopsAtTheFirstEventThatCannotBeSent) {
    std::vector<CloudEvent> batch{order_event("created", 1), order_event("created", 2),
                                  order_event("created", 3)};
    batch[1].type = "olympus.order.bad type";  // not a subject
    const PublishResult result = bus_->publish_batch(batch);
    EXPECT_EQ(result.accepted, 1u);
    EXPECT_NE(result.error.find("type"), std::string::npos) << result.error;
}

TEST_P(BusContract, ARepublishedEventIsProcessedOnceByADeduplicatedHandler) {
    InMemoryProcessedEvents processed;
    std::atomic<int> runs{0};
    Received seen;
    auto subscription = bus_->subscribe(options("dedup", "olympus.order.>"),
                                        deduplicated(processed, [&](const CloudEvent& event) {
                                            ++runs;
                                            seen.add(event);
                                        }));
    const auto event = order_event("created", 1);
    const auto marker = order_event("created", 2);
    bus_->publish(event);
    bus_->publish(event);  // e.g. an outbox relay that crashed before marking it sent
    bus_->publish(marker);
    ASSERT_TRUE(seen.wait_for(2));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(runs.load(), 2);
    EXPECT_EQ(seen.ids(), (std::vector<std::string>{event.id, marker.id}));
}

TEST_P(BusContract, RefusesEventsAndSubscriptionsItCannotCarry) {
    CloudEvent spaced = order_event("created", 1);
    spaced.type = "olympus.order.created now";
    EXPECT_THROW(bus_->publish(spaced), InvalidEvent);
    CloudEvent wildcard = order_event("created", 1);
    wildcard.type = "olympus.order.*";
    EXPECT_THROW(bus_->publish(wildcard), InvalidEvent);
    CloudEvent anonymous = order_event("created", 1);
    anonymous.id.clear();
    EXPECT_THROW(bus_->publish(anonymous), InvalidEvent);
    const Handler ignore = [](const CloudEvent&) {};
    EXPECT_THROW(bus_->subscribe("has.dot", "olympus.order.>", ignore), std::invalid_argument);
    EXPECT_THROW(bus_->subscribe("ok", "olympus.>.created", ignore), std::invalid_argument);
    EXPECT_THROW(bus_->subscribe("ok", "", ignore), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Adapters, BusContract, ::testing::Values(Adapter::in_process, Adapter::jetstream),
                         [](const ::testing::TestParamInfo<Adapter>& param) {
                             return param.param == Adapter::in_process ? "InProcess" : "JetStream";
                         });

TEST(TypeFilter, MatchesLikeNatsSubjects) {
    EXPECT_TRUE(type_matches("olympus.order.>", "olympus.order.created"));
    EXPECT_TRUE(type_matches("olympus.order.>", "olympus.order.status.changed"));
    EXPECT_FALSE(type_matches("olympus.order.>", "olympus.order"));
    EXPECT_TRUE(type_matches("olympus.*.created", "olympus.user.created"));
    EXPECT_FALSE(type_matches("olympus.*.created", "olympus.user.deleted"));
    EXPECT_FALSE(type_matches("olympus.order.created", "olympus.order.created.v2"));
    EXPECT_TRUE(filter_covers("olympus.order.>", "olympus.order.created"));
    EXPECT_TRUE(filter_covers("olympus.order.>", "olympus.order.*"));
    EXPECT_TRUE(filter_covers("olympus.*.created", "olympus.order.created"));
    EXPECT_FALSE(filter_covers("olympus.order.>", "olympus.*.created"));
    EXPECT_FALSE(filter_covers("olympus.order.created", "olympus.order.>"));
    EXPECT_TRUE(valid_type_filter(">"));
    EXPECT_FALSE(valid_type_filter("olympus..order"));
    EXPECT_FALSE(valid_type_filter("olympus.or*der"));
}

TEST(RetryDelay, DoublesUpToTheCap) {
    SubscribeOptions o;
    o.retry_backoff = 100ms;
    o.max_retry_backoff = 1s;
    EXPECT_EQ(retry_delay(o, 1), 100ms);
    EXPECT_EQ(retry_delay(o, 2), 200ms);
    EXPECT_EQ(retry_delay(o, 4), 800ms);
    EXPECT_EQ(retry_delay(o, 5), 1s);
    EXPECT_EQ(retry_delay(o, 60), 1s);
}

TEST(InMemoryProcessedEvents, RemembersIdsUpToItsCapacity) {
    InMemoryProcessedEvents processed(3);
    EXPECT_TRUE(processed.first_time("a"));
    EXPECT_FALSE(processed.first_time("a"));
    EXPECT_TRUE(processed.first_time("b"));
    EXPECT_TRUE(processed.first_time("c"));
    EXPECT_TRUE(processed.first_time("d"));  // evicts "a", the oldest
    EXPECT_EQ(processed.size(), 3u);
    EXPECT_TRUE(processed.first_time("a"));
    EXPECT_FALSE(processed.first_time("d"));
    processed.forget("d");
    EXPECT_TRUE(processed.first_time("d"));
}

TEST(Deduplicated, AFailedEventIsProcessedAgainOnRedelivery) {
    InMemoryProcessedEvents processed;
    int runs = 0;
    Handler handler = deduplicated(processed, [&](const CloudEvent&) {
        if (++runs == 1) throw std::runtime_error("first attempt fails");
    });
    const auto event = order_event("created", 1);
    EXPECT_THROW(handler(event), std::runtime_error);
    handler(event);  // the redelivery runs the handler again
    handler(event);  // a duplicate after success does not
    EXPECT_EQ(runs, 2);
}

}  // namespace
}  // namespace olympus::events
