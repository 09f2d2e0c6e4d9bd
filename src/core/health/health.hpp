#pragma once

// Liveness and readiness. /livez answers 200 while the process can serve at all; /readyz answers
// 200 only while not draining and every registered dependency check passes (e.g. a store ping).

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "http/router.hpp"

namespace olympus::health {

class Health {
  public:
    using Check = std::function<bool()>;  // true when the dependency is reachable; must not block long

    void add_check(std::string name, Check check);
    // Readiness fails from now on (first step of shutdown, so load balancers stop sending traffic).
    void set_draining() { draining_.store(true); }
    bool draining() const { return draining_.load(); }

    // Registers GET /livez and GET /readyz on the router.
    void install(http::Router& router);

    struct Report {
        bool ready = true;
        std::vector<std::pair<std::string, bool>> checks;
    };
    Report readiness() const;

  private:
    mutable std::mutex mutex_;
    std::vector<std::pair<std::string, Check>> checks_;
    std::atomic<bool> draining_{false};
};

}  // namespace olympus::health
