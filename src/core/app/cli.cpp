#include <iostream>

#include <CLI/CLI.hpp>

#include "app/core_options.hpp"
#include "app/runtime.hpp"
#include "app/service.hpp"
#include "log/log.hpp"

namespace olympus::app {

namespace {

std::vector<std::unique_ptr<Service>> build_all(const Catalog& catalog) {
    std::vector<std::unique_ptr<Service>> services;
    for (const auto& entry : catalog.entries()) services.push_back(entry.factory());
    return services;
}

std::vector<std::string> names(const Catalog& catalog) {
    std::vector<std::string> list{"all"};
    for (const auto& entry : catalog.entries()) list.push_back(entry.name);
    return list;
}

void init_logging(const CoreOptions& options, std::string service_name) {
    log::Options log_options;
    log_options.service_name = std::move(service_name);
    log_options.service_version = OLYMPUS_VERSION;
    log_options.min_level = log::parse_level(options.log_level);
    log::init(log_options);
}

}  // namespace

int run_cli(int argc, char** argv, const Catalog& catalog) {
    CLI::App cli{"Olympus: authentication, users, orders and notifications behind one HTTPS gateway"};
    cli.require_subcommand(1);
    cli.footer("Every option can also be set by the environment variable shown beside it.");

    // Every service's own options are declared on both commands, so `serve` and `migrate` agree.
    std::vector<std::unique_ptr<Service>> all = build_all(catalog);

    CoreOptions options;
    std::string which = "all";

    CLI::App* serve_cmd = cli.add_subcommand("serve", "Start services (all of them, or one) and serve HTTP");
    serve_cmd->add_option("service", which, "Which service to run")
        ->check(CLI::IsMember(names(catalog)))
        ->capture_default_str();
    add_core_options(*serve_cmd, options);

    CLI::App* migrate_cmd = cli.add_subcommand("migrate", "Apply pending database migrations and exit");
    migrate_cmd->add_option("service", which, "Which service to migrate")
        ->check(CLI::IsMember(names(catalog)))
        ->capture_default_str();
    add_storage_options(*migrate_cmd, options);

    for (auto& service : all) {
        service->add_options(*serve_cmd);
        service->add_options(*migrate_cmd);
    }

    cli.add_subcommand("version", "Print the version and exit")->callback([] {
        std::cout << "olympus " << OLYMPUS_VERSION << "\n";
    });

    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e);
    }

    // Keep only the services asked for, already configured by the parse above.
    std::vector<std::unique_ptr<Service>> chosen;
    for (auto& service : all) {
        if (which == "all" || which == service->name()) chosen.push_back(std::move(service));
    }

    try {
        if (serve_cmd->parsed()) {
            init_logging(options, which == "all" ? "olympus" : which);
            return serve(options, std::move(chosen));
        }
        if (migrate_cmd->parsed()) {
            init_logging(options, which == "all" ? "olympus" : which);
            for (auto& service : chosen) {
                service->migrate(options);
                log::info("migrated", {{"labels.service", service->name()}});
            }
            log::flush();
            return 0;
        }
    } catch (const std::exception& e) {
        // Start-up failures (bad certificate, port in use, unreachable store) end here, with a reason.
        log::error("fatal", {{"error.message", std::string_view(e.what())}});
        log::flush();
        return 1;
    }
    return 0;
}

}  // namespace olympus::app
