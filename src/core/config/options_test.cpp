#include "config/options.hpp"

#include <stdlib.h>

#include <gtest/gtest.h>

#include "app/core_options.hpp"

namespace olympus::config {
namespace {

// Sets an environment variable for the life of the object.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
    ~ScopedEnv() { ::unsetenv(name_); }

  private:
    const char* name_;
};

void parse(CLI::App& app, std::vector<std::string> args) {
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments in reverse order
    app.parse(args);
}

TEST(Config, EnvironmentNameIsDerivedFromTheFlag) {
    EXPECT_EQ(env_name("--admin-port"), "OLYMPUS_ADMIN_PORT");
    EXPECT_EQ(env_name("--zeus-db-url"), "OLYMPUS_ZEUS_DB_URL");
}

TEST(Config, DefaultThenEnvironmentThenFlag) {
    {
        app::CoreOptions o;
        CLI::App cli;
        app::add_core_options(cli, o);
        parse(cli, {});
        EXPECT_EQ(o.port, 8443);
    }
    ScopedEnv env("OLYMPUS_PORT", "9000");
    {
        app::CoreOptions o;
        CLI::App cli;
        app::add_core_options(cli, o);
        parse(cli, {});
        EXPECT_EQ(o.port, 9000);
    }
    {
        app::CoreOptions o;
        CLI::App cli;
        app::add_core_options(cli, o);
        parse(cli, {"--port", "9100"});
        EXPECT_EQ(o.port, 9100);
    }
}

TEST(Config, BooleansTakeExplicitValues) {
    ScopedEnv env("OLYMPUS_TLS", "false");
    app::CoreOptions o;
    CLI::App cli;
    app::add_core_options(cli, o);
    parse(cli, {"--access-log=false"});
    EXPECT_FALSE(o.tls);
    EXPECT_FALSE(o.access_log);
}

TEST(Config, InvalidValuesNameTheOption) {
    app::CoreOptions o;
    CLI::App cli;
    app::add_core_options(cli, o);
    try {
        parse(cli, {"--port", "70000"});
        FAIL() << "no error for an out-of-range port";
    } catch (const CLI::ParseError& e) {
        EXPECT_NE(std::string(e.what()).find("--port"), std::string::npos) << e.what();
    }
    app::CoreOptions o2;
    CLI::App cli2;
    app::add_core_options(cli2, o2);
    EXPECT_THROW(parse(cli2, {"--log-level", "chatty"}), CLI::ParseError);
}

TEST(Config, CertificateWithoutKeyIsRefused) {
    app::CoreOptions o;
    CLI::App cli;
    app::add_core_options(cli, o);
    EXPECT_THROW(parse(cli, {"--tls-cert", OLYMPUS_SOURCE_DIR "/CMakeLists.txt"}), CLI::ParseError);
}

TEST(Config, HelpListsEveryOptionWithDefaultAndEnvironmentName) {
    app::CoreOptions o;
    CLI::App cli;
    app::add_core_options(cli, o);
    std::string help = cli.help();
    for (const char* expected : {"--port", "8443", "OLYMPUS_PORT", "--admin-port", "OLYMPUS_ADMIN_PORT",
                                 "--max-body-bytes", "1048576", "OLYMPUS_DRAIN_TIMEOUT_MS"}) {
        EXPECT_NE(help.find(expected), std::string::npos) << expected;
    }
}

}  // namespace
}  // namespace olympus::config
