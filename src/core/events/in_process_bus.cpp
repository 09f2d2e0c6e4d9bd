#include "events/in_process_bus.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <thread>

#include "log/log.hpp"

namespace olympus::events {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Pending {
    std::uint64_t sequence = 0;  // publish order, kept when an event waits for a retry
    std::shared_ptr<const CloudEvent> event;
    int deliveries = 0;
    SteadyClock::time_point not_before{};
};

}  // namespace

struct InProcessBus::Durable {
    std::mutex mutex;
    std::condition_variable changed;
    std::string filter;
    SubscribeOptions options;   // of the latest subscription: retry and give-up settings
    std::deque<Pending> queue;  // ordered by sequence
    std::size_t in_flight = 0;
    std::uint64_t next_sequence = 0;
};

namespace {

class InProcessSubscription final : public Subscription {
  public:
    InProcessSubscription(std::shared_ptr<InProcessBus::Durable> durable, Handler handler)
        : durable_(std::move(durable)), handler_(std::move(handler)), worker_([this] { run(); }) {}

    ~InProcessSubscription() override {
        {
            std::lock_guard lock(durable_->mutex);
            stop_ = true;
        }
        durable_->changed.notify_all();
        worker_.join();
    }

  private:
    void run() {
        auto& durable = *durable_;
        std::unique_lock lock(durable.mutex);
        while (!stop_) {
            const auto now = SteadyClock::now();
            const auto ready = std::find_if(durable.queue.begin(), durable.queue.end(),
                                            [&](const Pending& p) { return p.not_before <= now; });
            if (ready == durable.queue.end()) {
                if (durable.queue.empty()) {
                    durable.changed.wait(lock);
                } else {
                    const auto next = std::min_element(
                        durable.queue.begin(), durable.queue.end(),
                        [](const Pending& a, const Pending& b) { return a.not_before < b.not_before; });
                    durable.changed.wait_until(lock, next->not_before);
                }
                continue;
            }
            Pending pending = std::move(*ready);
            durable.queue.erase(ready);
            ++durable.in_flight;
            ++pending.deliveries;
            lock.unlock();
            std::string failure;
            try {
                handler_(*pending.event);
            } catch (const std::exception& e) {
                failure = e.what();
                if (failure.empty()) failure = "exception without a message";
            } catch (...) {
                failure = "non-standard exception";
            }
            lock.lock();
            --durable.in_flight;
            if (failure.empty()) continue;  // acknowledged

            const CloudEvent& event = *pending.event;
            if (pending.deliveries >= durable.options.max_deliver) {
                log::error("event handler failed for the last time; event dropped",
                           {{"event.id", event.id},
                            {"event.action", event.type},
                            {"event.consumer", durable.options.durable_name},
                            {"event.deliveries", pending.deliveries},
                            {"error.message", failure}});
                continue;
            }
            const auto delay = retry_delay(durable.options, pending.deliveries);
            log::warn("event handler failed; event will be delivered again",
                      {{"event.id", event.id},
                       {"event.action", event.type},
                       {"event.consumer", durable.options.durable_name},
                       {"event.deliveries", pending.deliveries},
                       {"event.retry_in_ms", delay.count()},
                       {"error.message", failure}});
            pending.not_before = SteadyClock::now() + delay;
            const auto position = std::lower_bound(
                durable.queue.begin(), durable.queue.end(), pending.sequence,
                [](const Pending& p, std::uint64_t sequence) { return p.sequence < sequence; });
            durable.queue.insert(position, std::move(pending));
            durable.changed.notify_all();  // another worker of this durable may be waiting for it
        }
    }

    std::shared_ptr<InProcessBus::Durable> durable_;
    Handler handler_;
    bool stop_ = false;   // guarded by durable_->mutex
    std::thread worker_;  // last: started once everything above is initialised
};

}  // namespace

InProcessBus::InProcessBus() = default;
InProcessBus::~InProcessBus() = default;

void InProcessBus::publish(const CloudEvent& event) {
    if (event.id.empty()) throw InvalidEvent("CloudEvent attribute 'id': is required");
    if (event.source.empty()) throw InvalidEvent("CloudEvent attribute 'source': is required");
    check_event_type(event.type);
    auto shared = std::make_shared<const CloudEvent>(event);
    std::lock_guard registry(mutex_);
    for (auto& [name, durable] : durables_) {
        std::lock_guard lock(durable->mutex);
        if (!type_matches(durable->filter, event.type)) continue;
        durable->queue.push_back(Pending{durable->next_sequence++, shared, 0, {}});
        durable->changed.notify_one();
    }
}

std::unique_ptr<Subscription> InProcessBus::subscribe(SubscribeOptions options, Handler handler) {
    if (!valid_durable_name(options.durable_name)) {
        throw std::invalid_argument("event bus: invalid durable name '" + options.durable_name + "'");
    }
    if (!valid_type_filter(options.type_filter)) {
        throw std::invalid_argument("event bus: invalid type filter '" + options.type_filter + "'");
    }
    if (!handler) throw std::invalid_argument("event bus: a subscription needs a handler");
    std::shared_ptr<Durable> durable;
    {
        std::lock_guard registry(mutex_);
        auto& slot = durables_[options.durable_name];
        if (!slot) slot = std::make_shared<Durable>();
        durable = slot;
        std::lock_guard lock(durable->mutex);
        durable->filter = options.type_filter;
        durable->options = std::move(options);
    }
    return std::make_unique<InProcessSubscription>(std::move(durable), std::move(handler));
}

std::size_t InProcessBus::backlog(std::string_view durable_name) const {
    std::lock_guard registry(mutex_);
    const auto found = durables_.find(durable_name);
    if (found == durables_.end()) return 0;
    std::lock_guard lock(found->second->mutex);
    return found->second->queue.size() + found->second->in_flight;
}

}  // namespace olympus::events
