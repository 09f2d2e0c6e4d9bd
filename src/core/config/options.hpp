#pragma once

// Configuration is declared once per option: a flag name, a default (the bound variable's value),
// a help text, and an environment variable derived from the flag (--admin-port →
// OLYMPUS_ADMIN_PORT). A flag on the command line overrides the environment, which overrides the
// default; `--help` lists all three.

#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace olympus::config {

// "--tls-cert" → "OLYMPUS_TLS_CERT"; with a prefix "zeus": "--zeus-db-url" → "OLYMPUS_ZEUS_DB_URL".
std::string env_name(std::string_view flag);

template <class T>
CLI::Option* option(CLI::App& app, const std::string& flag, T& variable, const std::string& help) {
    return app.add_option(flag, variable, help)->envname(env_name(flag))->capture_default_str();
}

// A boolean option taking an explicit value (--tls=false, OLYMPUS_TLS=false).
CLI::Option* flag(CLI::App& app, const std::string& flag, bool& variable, const std::string& help);

}  // namespace olympus::config
