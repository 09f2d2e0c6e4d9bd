#include "auth/claims.hpp"

#include <algorithm>

namespace olympus::auth {

bool Claims::has_scope(std::string_view scope) const {
    return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

bool has_scopes(const Claims& claims, std::initializer_list<std::string_view> required) {
    return std::all_of(required.begin(), required.end(),
                       [&](std::string_view s) { return claims.has_scope(s); });
}

bool has_scopes(const Claims& claims, const std::vector<std::string>& required) {
    return std::all_of(required.begin(), required.end(),
                       [&](const std::string& s) { return claims.has_scope(s); });
}

std::vector<std::string> split_scopes(std::string_view scope) {
    std::vector<std::string> out;
    while (!scope.empty()) {
        auto space = scope.find(' ');
        auto item = scope.substr(0, space);
        if (!item.empty()) out.emplace_back(item);
        if (space == std::string_view::npos) break;
        scope.remove_prefix(space + 1);
    }
    return out;
}

}  // namespace olympus::auth
