#include "health/health.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace olympus::health {

void Health::add_check(std::string name, Check check) {
    std::lock_guard lock(mutex_);
    checks_.emplace_back(std::move(name), std::move(check));
}

Health::Report Health::readiness() const {
    Report report;
    std::lock_guard lock(mutex_);
    for (const auto& [name, check] : checks_) {
        bool ok = false;
        try {
            ok = check();
        } catch (const std::exception&) {
            ok = false;  // a check that throws is a failing dependency, not a crashed probe
        }
        report.checks.emplace_back(name, ok);
        report.ready = report.ready && ok;
    }
    if (draining()) report.ready = false;
    return report;
}

void Health::install(http::Router& router) {
    router.get("/livez", [](http::RequestContext&) -> boost::asio::awaitable<http::Response> {
        co_return http::Response::json(200, R"({"status":"live"})");
    });
    router.get("/readyz", [this](http::RequestContext&) -> boost::asio::awaitable<http::Response> {
        Report report = readiness();
        boost::json::object checks;
        for (const auto& [name, ok] : report.checks) checks[name] = ok ? "ok" : "failing";
        boost::json::object body{{"status", report.ready ? "ready" : (draining() ? "draining" : "not_ready")},
                                 {"checks", std::move(checks)}};
        http::Response response =
            http::Response::json(report.ready ? 200 : 503, boost::json::serialize(body));
        response.headers.set("Cache-Control", "no-store");
        co_return response;
    });
}

}  // namespace olympus::health
