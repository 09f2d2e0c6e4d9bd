#pragma once

// What a service is to the process that hosts it. The `olympus` executable keeps one visible list
// of services (src/cli/main.cpp); adding a service is a folder and one line there.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace olympus::http {
class Router;
class IoPool;
}  // namespace olympus::http
namespace olympus::health {
class Health;
}
namespace olympus::metrics {
class Registry;
}

namespace olympus::app {

struct CoreOptions;

// Everything a service is handed at start-up; it keeps references, never looks anything up later.
struct ServiceContext {
    const CoreOptions& options;
    http::Router& router;
    health::Health& health;
    metrics::Registry& metrics;
    http::IoPool& io;
};

class Service {
  public:
    virtual ~Service() = default;
    virtual std::string_view name() const = 0;
    // Declares the service's own options (OLYMPUS_<SERVICE>_*) on the serve/migrate commands.
    virtual void add_options(CLI::App& /*command*/) {}
    // Applies pending schema migrations; `olympus migrate` and start-up both call it.
    virtual void migrate(const CoreOptions& /*options*/) {}
    // Registers routes, health checks and metrics; starts background work.
    virtual void start(ServiceContext& context) = 0;
    // Stops background work and flushes what must not be lost; called after the HTTP drain.
    virtual void stop() {}
};

class Catalog {
  public:
    using Factory = std::function<std::unique_ptr<Service>()>;

    template <class S>
    void add(std::string name) {
        add(std::move(name), [] { return std::make_unique<S>(); });
    }
    void add(std::string name, Factory factory) { entries_.push_back({std::move(name), std::move(factory)}); }

    struct Entry {
        std::string name;
        Factory factory;
    };
    const std::vector<Entry>& entries() const { return entries_; }

  private:
    std::vector<Entry> entries_;
};

// The `olympus` command line: serve [all|<service>], migrate, version. Returns the exit code.
int run_cli(int argc, char** argv, const Catalog& catalog);

}  // namespace olympus::app
