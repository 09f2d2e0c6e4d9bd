#pragma once

// Query-string options of database URLs (internal to the adapters).

#include <charconv>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/url/parse_query.hpp>

namespace olympus::sql::detail {

// Decoded key/value pairs of `a=1&b=2`; throws std::invalid_argument when malformed.
inline std::vector<std::pair<std::string, std::string>> url_options(std::string_view query) {
    std::vector<std::pair<std::string, std::string>> options;
    if (query.empty()) return options;
    auto params = boost::urls::parse_query(query);
    if (!params) throw std::invalid_argument("database URL: malformed query string");
    for (const auto& param : *params) options.emplace_back(param.key.decode(), param.value.decode());
    return options;
}

template <class T>
T url_number(std::string_view key, std::string_view text, T low, T high) {
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < low || value > high) {
        throw std::invalid_argument("database URL: option '" + std::string(key) + "' must be a number from " +
                                    std::to_string(low) + " to " + std::to_string(high));
    }
    return value;
}

}  // namespace olympus::sql::detail
