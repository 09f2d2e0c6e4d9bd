#pragma once

// Test helpers shared by the event bus tests: a thread-safe record of what a handler received, and
// events to publish. Header-only and included by *_test.cpp files only.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "events/cloud_event.hpp"

namespace olympus::events::test_support {

// What a subscription's handler saw, in order, waited for with a deadline.
class Received {
  public:
    void add(const CloudEvent& event) {
        {
            std::lock_guard lock(mutex_);
            events_.push_back(event);
        }
        changed_.notify_all();
    }

    // True once at least `count` events arrived within `timeout`.
    bool wait_for(std::size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return events_.size() >= count; });
    }

    std::vector<CloudEvent> events() const {
        std::lock_guard lock(mutex_);
        return events_;
    }
    std::vector<std::string> ids() const {
        std::lock_guard lock(mutex_);
        std::vector<std::string> ids;
        for (const auto& event : events_) ids.push_back(event.id);
        return ids;
    }
    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return events_.size();
    }

  private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<CloudEvent> events_;
};

inline CloudEvent order_event(std::string_view type_suffix, int number) {
    return CloudEvent::make("/poseidon", "olympus.order." + std::string(type_suffix),
                            "ord_" + std::to_string(number), boost::json::object{{"number", number}});
}

}  // namespace olympus::events::test_support
