#pragma once

// Prepared statements of one connection, by SQL text (internal to the adapters). Callers name
// their statements as constants, so the cache holds a fixed, small set and never evicts: a
// reference handed out stays valid as long as the connection.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "log/log.hpp"

namespace olympus::sql {

template <class S>
class StatementCache {
  public:
    S* find(std::string_view sql) {
        const auto it = map_.find(sql);
        return it == map_.end() ? nullptr : it->second.get();
    }

    S& insert(std::string_view sql, std::unique_ptr<S> statement) {
        S& inserted = *map_.emplace(std::string(sql), std::move(statement)).first->second;
        // Thousands of distinct statements mean SQL built from data: a leak, and a hint of injection.
        if (map_.size() == kWarnAt) {
            log::warn("sql: statement cache is unusually large; are statements built from data?",
                      {{"olympus.sql.statements", map_.size()}});
        }
        return inserted;
    }

    template <class F>
    void for_each(F&& fn) {
        for (auto& [sql, statement] : map_) fn(*statement);
    }

    void clear() { map_.clear(); }
    std::size_t size() const { return map_.size(); }

  private:
    static constexpr std::size_t kWarnAt = 1000;
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, std::unique_ptr<S>, Hash, std::equal_to<>> map_;
};

}  // namespace olympus::sql
