#include "config/options.hpp"

#include <cctype>

namespace olympus::config {

std::string env_name(std::string_view flag) {
    while (!flag.empty() && flag.front() == '-') flag.remove_prefix(1);
    std::string name = "OLYMPUS_";
    for (char c : flag) {
        name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return name;
}

CLI::Option* flag(CLI::App& app, const std::string& flag, bool& variable, const std::string& help) {
    return app.add_option(flag, variable, help)
        ->envname(env_name(flag))
        ->capture_default_str()
        ->type_name("BOOL");
}

}  // namespace olympus::config
