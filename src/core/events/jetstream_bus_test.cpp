// What only the JetStream adapter promises, checked against a real nats-server with the server's own
// view (its monitoring endpoint) as the oracle.

#include "events/jetstream_bus.hpp"

#include <atomic>
#include <future>
#include <thread>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "events/bus_test_support.hpp"
#include "testing/nats_server.hpp"

namespace olympus::events {
namespace {

using namespace std::chrono_literals;
using test_support::order_event;
using test_support::Received;

// The server's own view of its streams and consumers, read from its monitoring endpoint (/jsz):
// an oracle that shares no code with the adapter.
class ServerView {
  public:
    explicit ServerView(const olympus::testing::NatsServer& nats) : nats_(nats) {}

    boost::json::object stream(std::string_view name) const {
        const auto server = jsz();
        for (const auto& account : server.at("account_details").as_array()) {
            for (const auto& detail : account.at("stream_detail").as_array()) {
                if (detail.at("name").as_string() == name) return detail.as_object();
            }
        }
        throw std::runtime_error("no stream " + std::string(name));
    }
    boost::json::object consumer(std::string_view stream_name, std::string_view name) const {
        const auto detail = stream(stream_name);
        if (const auto* consumers = detail.if_contains("consumer_detail")) {
            for (const auto& consumer : consumers->as_array()) {
                if (consumer.at("name").as_string() == name) return consumer.as_object();
            }
        }
        throw std::runtime_error("no consumer " + std::string(name));
    }
    std::uint64_t messages(std::string_view stream_name) const {
        return stream(stream_name).at("state").at("messages").to_number<std::uint64_t>();
    }

  private:
    boost::json::object jsz() const {
        const auto body = nats_.monitor("/jsz?streams=true&consumers=true&config=true");
        if (!body) throw std::runtime_error("/jsz did not answer");
        return boost::json::parse(*body).as_object();
    }

    const olympus::testing::NatsServer& nats_;
};

std::int64_t nanos(std::chrono::nanoseconds duration) {
    return duration.count();
}

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
    const ServerView view(nats_);
    const auto config = view.stream("OLYMPUS_ORDERS").at("config");
    EXPECT_EQ(config.at("subjects"), boost::json::array{"olympus.order.>"});
    EXPECT_EQ(config.at("storage").as_string(), "file");
    EXPECT_EQ(config.at("retention").as_string(), "limits");
    EXPECT_EQ(config.at("duplicate_window").to_number<std::int64_t>(), nanos(2min));
    auto options = bus_options();
    options.max_age = std::chrono::hours(1);
    JetStreamBus restarted(options);  // the stream exists: updated, not refused
    EXPECT_EQ(view.stream("OLYMPUS_ORDERS").at("config").at("max_age").to_number<std::int64_t>(), nanos(1h));
}

TEST_F(JetStreamBusTest, ConsumersAreDurableWithExplicitAcks) {
    JetStreamBus bus(bus_options());
    SubscribeOptions options;
    options.durable_name = "hermes-orders";
    options.type_filter = "olympus.order.>";
    options.ack_wait = 5s;
    options.max_deliver = 4;
    auto subscription = bus.subscribe(options, [](const CloudEvent&) {});
    const ServerView view(nats_);
    const auto config = view.consumer("OLYMPUS_ORDERS", "hermes-orders").at("config");
    EXPECT_EQ(config.at("durable_name").as_string(), "hermes-orders");
    EXPECT_EQ(config.at("ack_policy").as_string(), "explicit");
    EXPECT_EQ(config.at("ack_wait").to_number<std::int64_t>(), nanos(5s));
    EXPECT_EQ(config.at("max_deliver").to_number<std::int64_t>(), 4);
    EXPECT_EQ(config.at("filter_subject").as_string(), "olympus.order.>");
    EXPECT_FALSE(config.as_object().contains("deliver_subject"));  // a pull consumer
    subscription.reset();
    // Ending a subscription leaves the durable consumer (and its position) on the server.
    EXPECT_NO_THROW(view.consumer("OLYMPUS_ORDERS", "hermes-orders"));
}

TEST_F(JetStreamBusTest, APublishRepeatedWithTheSameIdIsStoredOnce) {
    JetStreamBus bus(bus_options());
    const CloudEvent event = order_event("created", 1);
    bus.publish(event);
    bus.publish(event);
    const std::vector<CloudEvent> batch{event, order_event("created", 2)};
    EXPECT_EQ(bus.publish_batch(batch).accepted, 2u);
    EXPECT_EQ(ServerView(nats_).messages("OLYMPUS_ORDERS"), 2u);  // event once, plus the second one
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
