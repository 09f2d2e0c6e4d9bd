// What only the JetStream adapter promises, checked against a real nats-server with the server's own
// view (stream and consumer info read through libnats) as the oracle.

#include "events/jetstream_bus.hpp"

#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <nats/nats.h>

#include "events/bus_test_support.hpp"
#include "testing/nats_server.hpp"

namespace olympus::events {
namespace {

using namespace std::chrono_literals;
using test_support::order_event;
using test_support::Received;

// A plain libnats connection to inspect what the server holds.
class ServerView {
  public:
    explicit ServerView(const std::string& url) {
        if (natsConnection_ConnectTo(&connection_, url.c_str()) != NATS_OK ||
            natsConnection_JetStream(&js_, connection_, nullptr) != NATS_OK) {
            throw std::runtime_error("cannot connect to " + url);
        }
    }
    ~ServerView() {
        jsCtx_Destroy(js_);
        natsConnection_Destroy(connection_);
    }
    ServerView(const ServerView&) = delete;
    ServerView& operator=(const ServerView&) = delete;

    std::uint64_t messages(const char* stream) {
        jsStreamInfo* info = nullptr;
        if (js_GetStreamInfo(&info, js_, stream, nullptr, nullptr) != NATS_OK)
            throw std::runtime_error("stream info");
        const auto count = info->State.Msgs;
        jsStreamInfo_Destroy(info);
        return count;
    }

    // Calls `inspect` with the server's stream info.
    template <class F>
    void stream(const char* name, F inspect) {
        jsStreamInfo* info = nullptr;
        ASSERT_EQ(js_GetStreamInfo(&info, js_, name, nullptr, nullptr), NATS_OK);
        inspect(*info);
        jsStreamInfo_Destroy(info);
    }
    template <class F>
    void consumer(const char* stream, const char* name, F inspect) {
        jsConsumerInfo* info = nullptr;
        ASSERT_EQ(js_GetConsumerInfo(&info, js_, stream, name, nullptr, nullptr), NATS_OK);
        inspect(*info);
        jsConsumerInfo_Destroy(info);
    }

  private:
    natsConnection* connection_ = nullptr;
    jsCtx* js_ = nullptr;
};

class JetStreamBusTest : public ::testing::Test {
  protected:
    static void collect_nothing(Bus& bus, const SubscribeOptions& options) {
        bus.subscribe(options, [](const CloudEvent&) { throw std::logic_error("no event expected yet"); })
            .reset();
    }

    JetStreamOptions bus_options() const {
        JetStreamOptions options;
        options.url = nats_.url();
        options.streams = {domain_stream("order")};
        options.fetch_wait = 100ms;
        options.request_timeout = 2s;
        return options;
    }

    olympus::testing::NatsServer nats_;
};

TEST(DomainStream, NamesTheStreamAfterTheDomain) {
    const StreamSpec orders = domain_stream("order");
    EXPECT_EQ(orders.name, "OLYMPUS_ORDERS");
    EXPECT_EQ(orders.subjects, std::vector<std::string>{"olympus.order.>"});
}

TEST_F(JetStreamBusTest, CreatesTheStreamsAndUpdatesThemOnTheNextStart) {
    { JetStreamBus bus(bus_options()); }
    ServerView view(nats_.url());
    view.stream("OLYMPUS_ORDERS", [](const jsStreamInfo& info) {
        ASSERT_EQ(info.Config->SubjectsLen, 1);
        EXPECT_STREQ(info.Config->Subjects[0], "olympus.order.>");
        EXPECT_EQ(info.Config->Storage, js_FileStorage);
        EXPECT_EQ(info.Config->Duplicates, std::chrono::nanoseconds(2min).count());
    });
    auto options = bus_options();
    options.max_age = std::chrono::hours(1);
    JetStreamBus restarted(options);  // the stream exists: updated, not refused
    view.stream("OLYMPUS_ORDERS", [](const jsStreamInfo& info) {
        EXPECT_EQ(info.Config->MaxAge, std::chrono::nanoseconds(1h).count());
    });
}

TEST_F(JetStreamBusTest, ConsumersAreDurableWithExplicitAcks) {
    JetStreamBus bus(bus_options());
    SubscribeOptions options;
    options.durable_name = "hermes-orders";
    options.type_filter = "olympus.order.>";
    options.ack_wait = 5s;
    options.max_deliver = 4;
    auto subscription = bus.subscribe(options, [](const CloudEvent&) {});
    ServerView view(nats_.url());
    view.consumer("OLYMPUS_ORDERS", "hermes-orders", [](const jsConsumerInfo& info) {
        EXPECT_STREQ(info.Config->Durable, "hermes-orders");
        EXPECT_EQ(info.Config->AckPolicy, js_AckExplicit);
        EXPECT_EQ(info.Config->AckWait, std::chrono::nanoseconds(5s).count());
        EXPECT_EQ(info.Config->MaxDeliver, 4);
        EXPECT_STREQ(info.Config->FilterSubject, "olympus.order.>");
    });
    subscription.reset();
    // Ending a subscription leaves the durable consumer (and its position) on the server.
    view.consumer("OLYMPUS_ORDERS", "hermes-orders",
                  [](const jsConsumerInfo& info) { EXPECT_STREQ(info.Name, "hermes-orders"); });
}

TEST_F(JetStreamBusTest, APublishRepeatedWithTheSameIdIsStoredOnce) {
    JetStreamBus bus(bus_options());
    const CloudEvent event = order_event("created", 1);
    bus.publish(event);
    bus.publish(event);
    const std::vector<CloudEvent> batch{event, order_event("created", 2)};
    EXPECT_EQ(bus.publish_batch(batch).accepted, 2u);
    ServerView view(nats_.url());
    EXPECT_EQ(view.messages("OLYMPUS_ORDERS"), 2u);  // event once, plus the second one
}

TEST_F(JetStreamBusTest, AnEventUnackedWhenItsConsumerDiesGoesToTheNextConsumerOfTheDurable) {
    SubscribeOptions options;
    options.durable_name = "shipping";
    options.type_filter = "olympus.order.>";
    options.ack_wait = 1s;  // how long the server waits for the dead consumer

    auto first_bus = std::make_unique<JetStreamBus>(bus_options());
    std::promise<void> handler_entered;
    std::promise<void> release_handler;
    auto released = release_handler.get_future().share();
    std::atomic<bool> entered{false};
    auto doomed = first_bus->subscribe(options, [&](const CloudEvent&) {
        if (!entered.exchange(true)) handler_entered.set_value();
        released.wait();
    });
    const CloudEvent event = order_event("created", 1);
    first_bus->publish(event);
    ASSERT_EQ(handler_entered.get_future().wait_for(10s), std::future_status::ready);
    // The process "dies" mid-handler: its connection goes away without an ack.
    first_bus->close();
    release_handler.set_value();
    doomed.reset();
    first_bus.reset();

    JetStreamBus second_bus(bus_options());
    Received received;
    const auto started = std::chrono::steady_clock::now();
    auto survivor = second_bus.subscribe(options, [&](const CloudEvent& e) { received.add(e); });
    ASSERT_TRUE(received.wait_for(1, 10s));
    EXPECT_EQ(received.events()[0], event);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);  // about ack_wait, not longer
}

TEST_F(JetStreamBusTest, ABatchOfSlowEventsIsNotRedeliveredWhileStillInHand) {
    JetStreamBus bus(bus_options());
    SubscribeOptions options;
    options.durable_name = "slow";
    options.type_filter = "olympus.order.>";
    options.ack_wait = 600ms;
    collect_nothing(bus, options);  // create the durable, so that the events wait for it
    for (int i = 0; i < 8; ++i) bus.publish(order_event("created", i));
    Received received;
    // Fetched as one batch that takes twice ack_wait to get through.
    auto subscription = bus.subscribe(options, [&](const CloudEvent& e) {
        std::this_thread::sleep_for(150ms);
        received.add(e);
    });
    ASSERT_TRUE(received.wait_for(8, 10s));
    std::this_thread::sleep_for(800ms);  // a redelivery would show up by now
    EXPECT_EQ(received.size(), 8u);
}

TEST_F(JetStreamBusTest, KeepsPublishingAndConsumingAcrossAServerRestart) {
    JetStreamBus bus(bus_options());
    Received received;
    auto subscription =
        bus.subscribe("restart", "olympus.order.>", [&](const CloudEvent& e) { received.add(e); });
    bus.publish(order_event("created", 1));
    ASSERT_TRUE(received.wait_for(1));

    nats_.stop();
    nats_.start();  // same port, same store
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!bus.connected() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(bus.connected());
    const CloudEvent after = order_event("created", 2);
    bus.publish(after);
    ASSERT_TRUE(received.wait_for(2, 10s));
    EXPECT_EQ(received.events().back().id, after.id);
}

TEST_F(JetStreamBusTest, PublishingATypeNoStreamHoldsFails) {
    JetStreamBus bus(bus_options());
    const CloudEvent stray = CloudEvent::make("/x", "olympus.nowhere.created", "", boost::json::object{});
    EXPECT_THROW(bus.publish(stray), BusError);
    EXPECT_THROW(bus.subscribe("d", "olympus.nowhere.>", [](const CloudEvent&) {}), std::invalid_argument);
}

TEST_F(JetStreamBusTest, PublishingAfterCloseFails) {
    JetStreamBus bus(bus_options());
    bus.close();
    EXPECT_FALSE(bus.connected());
    EXPECT_THROW(bus.publish(order_event("created", 1)), BusError);
    const std::vector<CloudEvent> batch{order_event("created", 2)};
    const PublishResult result = bus.publish_batch(batch);
    EXPECT_EQ(result.accepted, 0u);
    EXPECT_FALSE(result.error.empty());
}

TEST(JetStreamBus, ConnectingToNoServerFails) {
    JetStreamOptions options;
    options.url = "nats://user:hunter2@127.0.0.1:" + std::to_string(olympus::testing::free_port());
    options.connect_timeout = 500ms;
    try {
        JetStreamBus bus(options);
        FAIL() << "connected to nothing";
    } catch (const BusError& e) {
        const std::string message = e.what();
        EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;  // the password is not shown
        EXPECT_NE(message.find("***@127.0.0.1"), std::string::npos) << message;
    }
}

}  // namespace
}  // namespace olympus::events
