#pragma once

// Hosts services in one process: builds the shared parts once (I/O threads, router, metrics,
// health, logging), hands them to each service, serves, and shuts down in a fixed order on
// SIGTERM or SIGINT: fail readiness, stop accepting, drain in-flight requests, stop services,
// flush logs, exit 0.

#include <memory>
#include <vector>

#include "app/core_options.hpp"
#include "app/service.hpp"

namespace olympus::app {

// Blocks until a termination signal arrives; returns the process exit code.
int serve(const CoreOptions& options, std::vector<std::unique_ptr<Service>> services);

}  // namespace olympus::app
