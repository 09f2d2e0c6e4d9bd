#pragma once

// The all-in-one event bus: every durable name has a queue in memory, and every subscription a
// worker thread that runs the handler, so a slow consumer never delays the publisher or another
// consumer. A handler that throws gets the event again after a backoff; events wait in their
// durable's queue while no subscription of that name runs.
//
// A handler that is still running is never given its event a second time, so ack_wait does not
// apply here (nor deliver_new_only: there is no history to skip).
//
// "Durably accepted" here means accepted into memory: events in the queues are lost when the
// process ends. The all-in-one shape accepts that; the outbox keeps unpublished events on disk,
// and the distributed shape uses JetStream.

#include <map>
#include <memory>
#include <mutex>

#include "events/bus.hpp"

namespace olympus::events {

class InProcessBus final : public Bus {
  public:
    InProcessBus();
    ~InProcessBus() override;
    InProcessBus(const InProcessBus&) = delete;
    InProcessBus& operator=(const InProcessBus&) = delete;

    // Queues the event for every durable whose filter matches it. Events published before a durable
    // name was first subscribed are not kept for it.
    void publish(const CloudEvent& event) override;
    std::unique_ptr<Subscription> subscribe(SubscribeOptions options, Handler handler) override;
    using Bus::subscribe;

    // Events waiting for (or being handled by) the durable's subscribers; 0 for an unknown name.
    std::size_t backlog(std::string_view durable_name) const;

    struct Durable;

  private:
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Durable>, std::less<>> durables_;
};

}  // namespace olympus::events
