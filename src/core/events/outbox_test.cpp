// The transactional outbox and its relay, on both SQL adapters (SQLite on a temp file, a real
// MariaDB) and both buses (in-process, JetStream on a real nats-server).

#include "events/outbox.hpp"

#include <atomic>
#include <cstdio>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include <gtest/gtest.h>

#include "events/bus_test_support.hpp"
#include "events/in_process_bus.hpp"
#include "events/jetstream_bus.hpp"
#include "sql/migrations.hpp"
#include "testing/mariadb_server.hpp"
#include "testing/nats_server.hpp"
#include "testing/process.hpp"

namespace olympus::events {
namespace {

using namespace std::chrono_literals;
using test_support::order_event;
using test_support::Received;

enum class Backend { sqlite, mariadb };
enum class Adapter { in_process, jetstream };

constexpr std::string_view kCreateOrdersSqlite =
    "CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)";
constexpr std::string_view kCreateOrdersMariaDb =
    "CREATE TABLE orders (id VARCHAR(64) PRIMARY KEY, total BIGINT NOT NULL) ENGINE=InnoDB";
constexpr std::string_view kInsertOrder = "INSERT INTO orders (id, total) VALUES (?, ?)";
constexpr std::string_view kCountOrders = "SELECT COUNT(*) FROM orders";
constexpr std::string_view kOutboxRows =
    "SELECT id, sent_at, attempts, next_attempt_at, last_error FROM outbox ORDER BY seq";

// Fault injection: a relay that dies right after the bus accepted its events and before it marked
// them sent. The events really are published (through the real bus); the relay never learns it.
class CrashAfterPublish final : public Bus {
  public:
    explicit CrashAfterPublish(Bus& inner) : inner_(inner) {}
    void publish(const CloudEvent& event) override {
        inner_.publish(event);
        throw std::runtime_error("relay process died after publishing");
    }
    PublishResult publish_batch(std::span<const CloudEvent> events) override {
        const auto result = inner_.publish_batch(events);
        if (result.accepted != events.size()) throw std::runtime_error("publish failed: " + result.error);
        throw std::runtime_error("relay process died after publishing");
    }
    std::unique_ptr<Subscription> subscribe(SubscribeOptions options, Handler handler) override {
        return inner_.subscribe(std::move(options), std::move(handler));
    }

  private:
    Bus& inner_;
};

class OutboxTest : public ::testing::TestWithParam<std::tuple<Backend, Adapter>> {
  protected:
    void SetUp() override {
        if (backend() == Backend::sqlite) {
            db_ = sql::open("sqlite://" + dir_.file("outbox.db"));
        } else {
            const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
            db_ = sql::open(olympus::testing::MariaDbServer::shared().create_database(std::string("outbox_") +
                                                                                      info->name()));
        }
        Outbox::migrate(*db_);
        db_->write([&](sql::Connection& c) {
            c.exec(backend() == Backend::sqlite ? kCreateOrdersSqlite : kCreateOrdersMariaDb);
        });
        if (adapter() == Adapter::jetstream) {
            nats_ = std::make_unique<olympus::testing::NatsServer>();
            bus_ = std::make_unique<JetStreamBus>(jetstream_options());
        } else {
            bus_ = std::make_unique<InProcessBus>();
        }
    }

    Backend backend() const { return std::get<0>(GetParam()); }
    Adapter adapter() const { return std::get<1>(GetParam()); }

    JetStreamOptions jetstream_options() const {
        JetStreamOptions options;
        options.url = nats_->url();
        options.streams = {domain_stream("order")};
        options.fetch_wait = 100ms;
        options.request_timeout = 500ms;
        return options;
    }

    static OutboxRelayOptions relay_options() {
        OutboxRelayOptions options;
        options.service = "poseidon";
        options.poll_interval = 20ms;
        options.retry_backoff = 50ms;
        options.max_retry_backoff = 200ms;
        return options;
    }

    // An order and its event, committed together.
    CloudEvent place_order(int number) {
        CloudEvent event = order_event("created", number);
        db_->transaction([&](sql::Connection& c) {
            c.exec(kInsertOrder, event.subject, number * 100);
            Outbox::add(c, event);
        });
        return event;
    }

    olympus::testing::TempDir dir_;
    std::unique_ptr<sql::Database> db_;
    std::unique_ptr<olympus::testing::NatsServer> nats_;  // outlives the bus
    std::unique_ptr<Bus> bus_;
    metrics::Registry registry_;
};

TEST_P(OutboxTest, TheEventIsWrittenOnlyWithTheChange) {
    place_order(1);
    EXPECT_EQ(Outbox::pending(*db_), 1);
    EXPECT_THROW(db_->transaction([&](sql::Connection& c) {
        c.exec(kInsertOrder, "ord_2", 200);
        Outbox::add(c, order_event("created", 2));
        throw std::runtime_error("the change fails after the event was added");
    }),
                 std::runtime_error);
    EXPECT_EQ(Outbox::pending(*db_), 1);  // rolled back together
    EXPECT_EQ(db_->read([](sql::Connection& c) { return c.query_one(kCountOrders)->get<int>(0); }), 1);
    // Outside a transaction the event could be written without its change, or the change without it.
    EXPECT_THROW(db_->write([](sql::Connection& c) { Outbox::add(c, order_event("created", 3)); }),
                 std::logic_error);
    CloudEvent unsendable = order_event("created", 4);
    unsendable.type = "olympus.order.created by mistake";
    EXPECT_THROW(db_->transaction([&](sql::Connection& c) { Outbox::add(c, unsendable); }), InvalidEvent);
}

TEST_P(OutboxTest, MigrationsAreRecordedAndRunOnce) {
    EXPECT_EQ(sql::schema_version(*db_, Outbox::kSchema), 3);
    EXPECT_NO_THROW(Outbox::migrate(*db_));
    EXPECT_EQ(sql::schema_version(*db_, Outbox::kSchema), 3);
}

TEST_P(OutboxTest, TheRelayPublishesInOrderAndMarksEventsSent) {
    Received received;
    auto subscription =
        bus_->subscribe("notify", "olympus.order.>", [&](const CloudEvent& e) { received.add(e); });
    std::vector<std::string> placed;
    for (int i = 0; i < 20; ++i) placed.push_back(place_order(i).id);
    OutboxRelay relay(*db_, *bus_, registry_, relay_options());
    EXPECT_EQ(relay.backlog(), 20);
    relay.start();
    ASSERT_TRUE(received.wait_for(20));
    EXPECT_EQ(received.ids(), placed);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (relay.backlog() != 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(relay.backlog(), 0);
    const auto rows = db_->read([](sql::Connection& c) { return c.query(kOutboxRows); });
    for (const auto& row : rows) {
        EXPECT_FALSE(row.is_null("sent_at"));
        EXPECT_EQ(row.get<int>("attempts"), 1);
    }
    const std::string metrics = registry_.render();
    EXPECT_NE(metrics.find("olympus_outbox_backlog{service=\"poseidon\"} 0"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("olympus_outbox_published_total{service=\"poseidon\"} 20"), std::string::npos)
        << metrics;

    // Events added later are published too; wake() saves waiting for the poll.
    const auto later = place_order(99);
    relay.wake();
    ASSERT_TRUE(received.wait_for(21));
    EXPECT_EQ(received.ids().back(), later.id);
}

TEST_P(OutboxTest, EventsSurviveARelayThatDiesBetweenPublishAndMarkingSent) {
    std::atomic<int> processed_runs{0};
    std::map<std::string, int> processed;  // event id → times the handler changed something
    std::mutex processed_mutex;
    Received deliveries;
    auto subscription =
        bus_->subscribe("ledger", "olympus.order.>",
                        [&, once = exactly_once(*db_, "ledger", [&](sql::Connection&, const CloudEvent& e) {
                                ++processed_runs;
                                std::lock_guard lock(processed_mutex);
                                ++processed[e.id];
                            })](const CloudEvent& e) {
                            once(e);
                            deliveries.add(e);
                        });
    std::vector<std::string> placed;
    for (int i = 0; i < 5; ++i) placed.push_back(place_order(i).id);

    auto options = relay_options();
    options.lease_duration = 300ms;  // the dead relay's lease runs out quickly
    {
        CrashAfterPublish crashing(*bus_);
        OutboxRelay doomed(*db_, crashing, registry_, options);
        EXPECT_THROW(doomed.publish_pending(), std::runtime_error);
    }  // never started: no flush, like a killed process (its lease simply expires)
    EXPECT_EQ(Outbox::pending(*db_), 5);  // published, but not marked

    OutboxRelay restarted(*db_, *bus_, registry_, options);
    restarted.start();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (Outbox::pending(*db_) != 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(Outbox::pending(*db_), 0);
    // JetStream stores each id once (5 deliveries); the in-process bus delivers both copies (10).
    ASSERT_TRUE(deliveries.wait_for(adapter() == Adapter::jetstream ? 5 : 10));
    std::this_thread::sleep_for(200ms);
    if (adapter() == Adapter::jetstream) {
        EXPECT_EQ(deliveries.size(), 5u);
    }
    EXPECT_EQ(processed_runs.load(), 5);
    std::lock_guard lock(processed_mutex);
    for (const auto& id : placed) EXPECT_EQ(processed[id], 1) << id;
}

TEST_P(OutboxTest, StoppingFlushesWhatIsPending) {
    Received received;
    auto subscription =
        bus_->subscribe("flush", "olympus.order.>", [&](const CloudEvent& e) { received.add(e); });
    auto options = relay_options();
    options.poll_interval = 1h;  // only the flush can publish them in time
    OutboxRelay relay(*db_, *bus_, registry_, options);
    relay.start();
    std::this_thread::sleep_for(50ms);  // the first (empty) pass is over
    for (int i = 0; i < 3; ++i) place_order(i);
    relay.stop();
    EXPECT_EQ(Outbox::pending(*db_), 0);
    EXPECT_TRUE(received.wait_for(3));
}

TEST_P(OutboxTest, OneRelayAtATimeHoldsTheLease) {
    place_order(1);
    CrashAfterPublish never_used(*bus_);
    OutboxRelay first(*db_, *bus_, registry_, relay_options());
    OutboxRelay second(*db_, never_used, registry_, relay_options());
    EXPECT_EQ(first.publish_pending(), 1u);
    place_order(2);
    EXPECT_EQ(second.publish_pending(), 0u);  // the first holds the lease: the second does nothing
    EXPECT_EQ(Outbox::pending(*db_), 1);
    first.start();
    first.stop();  // releases the lease after its flush
    EXPECT_EQ(Outbox::pending(*db_), 0);
    place_order(3);
    OutboxRelay third(*db_, *bus_, registry_, relay_options());
    EXPECT_EQ(third.publish_pending(), 1u);
}

TEST_P(OutboxTest, AnUnreadableRowIsSetAsideWithoutBlockingTheRest) {
    place_order(1);
    db_->write(
        [](sql::Connection& c) { c.exec("UPDATE outbox SET event_json = '{\"not\": \"an event\"}'"); });
    const auto good = place_order(2);
    Received received;
    auto subscription =
        bus_->subscribe("aside", "olympus.order.>", [&](const CloudEvent& e) { received.add(e); });
    OutboxRelay relay(*db_, *bus_, registry_, relay_options());
    EXPECT_EQ(relay.publish_pending(), 1u);  // the unreadable head, set aside
    EXPECT_EQ(relay.publish_pending(), 1u);  // then the good one
    ASSERT_TRUE(received.wait_for(1));
    EXPECT_EQ(received.ids(), std::vector<std::string>{good.id});
    const auto rows = db_->read([](sql::Connection& c) { return c.query(kOutboxRows); });
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_NE(rows[0].get<std::string>("last_error").find("specversion"), std::string::npos);
}

TEST_P(OutboxTest, AHandlerThatThrowsLeavesNoRecordAndRunsAgain) {
    int runs = 0;
    Handler handler = exactly_once(*db_, "billing", [&](sql::Connection& c, const CloudEvent& e) {
        ++runs;
        c.exec(kInsertOrder, "copy_" + e.subject, 1);
        if (runs == 1) throw std::runtime_error("fails after writing");
    });
    const auto event = order_event("created", 1);
    EXPECT_THROW(handler(event), std::runtime_error);
    EXPECT_EQ(db_->read([](sql::Connection& c) { return c.query_one(kCountOrders)->get<int>(0); }), 0);
    handler(event);  // redelivery: processed
    handler(event);  // duplicate: skipped
    EXPECT_EQ(runs, 2);
    EXPECT_EQ(db_->read([](sql::Connection& c) { return c.query_one(kCountOrders)->get<int>(0); }), 1);
    // Another consumer of the same event has its own record.
    int other_runs = 0;
    exactly_once(*db_, "audit", [&](sql::Connection&, const CloudEvent&) { ++other_runs; })(event);
    EXPECT_EQ(other_runs, 1);
    EXPECT_EQ(prune_processed_events(*db_, 1h), 0);  // nothing old yet
}

TEST_P(OutboxTest, ProcessedEventsAreRecordedInTheCallersTransaction) {
    EXPECT_THROW(db_->write([](sql::Connection& c) { SqlProcessedEvents(c, "x"); }), std::logic_error);
    EXPECT_THROW(db_->transaction([](sql::Connection& c) {
        SqlProcessedEvents processed(c, "mailer");
        EXPECT_TRUE(processed.first_time("e1"));
        throw std::runtime_error("rolled back");
    }),
                 std::runtime_error);
    db_->transaction([](sql::Connection& c) {
        SqlProcessedEvents processed(c, "mailer");
        EXPECT_TRUE(processed.first_time("e1"));  // the rolled-back record is gone
        EXPECT_FALSE(processed.first_time("e1"));
        processed.forget("e1");
        EXPECT_TRUE(processed.first_time("e1"));
    });
    db_->transaction([](sql::Connection& c) {
        EXPECT_FALSE(SqlProcessedEvents(c, "mailer").first_time("e1"));  // committed
        EXPECT_TRUE(SqlProcessedEvents(c, "sms").first_time("e1"));      // per consumer
    });
}

std::string param_name(const ::testing::TestParamInfo<std::tuple<Backend, Adapter>>& param) {
    return std::string(std::get<0>(param.param) == Backend::sqlite ? "Sqlite" : "MariaDb") +
           (std::get<1>(param.param) == Adapter::in_process ? "InProcess" : "JetStream");
}

INSTANTIATE_TEST_SUITE_P(Stores, OutboxTest,
                         ::testing::Values(std::make_tuple(Backend::sqlite, Adapter::in_process),
                                           std::make_tuple(Backend::sqlite, Adapter::jetstream),
                                           std::make_tuple(Backend::mariadb, Adapter::jetstream)),
                         param_name);

// What only a real broker shows: the relay retrying while JetStream is down, and its throughput.
class OutboxNatsTest : public OutboxTest {};

TEST_P(OutboxNatsTest, TheRelayRetriesWithBackoffWhileTheBrokerIsDown) {
    Received received;
    auto subscription =
        bus_->subscribe("retry", "olympus.order.>", [&](const CloudEvent& e) { received.add(e); });
    nats_->stop();
    const auto event = place_order(1);
    OutboxRelay relay(*db_, *bus_, registry_, relay_options());
    relay.start();
    // Wait until the relay has failed at least twice, as recorded in the row.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::int64_t attempts = 0;
    std::string last_error;
    while (attempts < 2 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
        db_->read([&](sql::Connection& c) {
            const auto row = c.query_one("SELECT attempts, last_error FROM outbox");
            attempts = row->get<std::int64_t>(0);
            last_error = row->get<std::optional<std::string>>(1).value_or("");
        });
    }
    EXPECT_GE(attempts, 2);
    EXPECT_FALSE(last_error.empty());
    EXPECT_EQ(relay.backlog(), 1);
    nats_->start();
    ASSERT_TRUE(received.wait_for(1, 15s));
    EXPECT_EQ(received.ids(), std::vector<std::string>{event.id});
}

TEST_P(OutboxNatsTest, ManyEventsFlowInOrderAndTheRateIsMeasured) {
    constexpr int kEvents = 2000;
    constexpr int kPerTransaction = 100;
    Received received;
    auto subscription =
        bus_->subscribe("bulk", "olympus.order.>", [&](const CloudEvent& e) { received.add(e); });
    std::vector<std::string> placed;
    for (int t = 0; t < kEvents / kPerTransaction; ++t) {
        db_->transaction([&](sql::Connection& c) {
            for (int i = 0; i < kPerTransaction; ++i) {
                const auto event = order_event("created", t * kPerTransaction + i);
                Outbox::add(c, event);
                placed.push_back(event.id);
            }
        });
    }
    OutboxRelay relay(*db_, *bus_, registry_, relay_options());
    const auto started = std::chrono::steady_clock::now();
    relay.start();
    const auto deadline = started + 25s;
    while (Outbox::pending(*db_) != 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ASSERT_EQ(Outbox::pending(*db_), 0);
    ASSERT_TRUE(received.wait_for(kEvents, 20s));
    EXPECT_EQ(received.ids(), placed);
    const double rate = kEvents / seconds;
    RecordProperty("outbox_events_per_second", std::to_string(static_cast<long>(rate)));
    std::printf("[ figure   ] outbox → NATS JetStream (%s): %d events in %.3f s = %.0f events/s\n",
                backend() == Backend::sqlite ? "SQLite" : "MariaDB", kEvents, seconds, rate);
}

INSTANTIATE_TEST_SUITE_P(Stores, OutboxNatsTest,
                         ::testing::Values(std::make_tuple(Backend::sqlite, Adapter::jetstream),
                                           std::make_tuple(Backend::mariadb, Adapter::jetstream)),
                         param_name);

}  // namespace
}  // namespace olympus::events
