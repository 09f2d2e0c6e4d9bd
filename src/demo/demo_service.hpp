#pragma once

// The demo service: the smallest complete Olympus service, kept as a template for new services
// and as the benchmark's JSON endpoint. It owns no data.

#include "app/service.hpp"

namespace olympus::demo {

class DemoService final : public app::Service {
  public:
    std::string_view name() const override { return "demo"; }
    void start(app::ServiceContext& context) override;
};

}  // namespace olympus::demo
