#include "events/bus.hpp"

#include <algorithm>
#include <vector>

namespace olympus::events {
namespace {

std::vector<std::string_view> tokens(std::string_view subject) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        const auto dot = subject.find('.', start);
        out.push_back(
            subject.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
        if (dot == std::string_view::npos) return out;
        start = dot + 1;
    }
}

// NATS subjects: printable ASCII without whitespace; '*' and '>' only as whole tokens.
bool valid_token_chars(std::string_view token) {
    return std::all_of(token.begin(), token.end(), [](char c) { return c > ' ' && c < 0x7F; });
}

}  // namespace

PublishResult Bus::publish_batch(std::span<const CloudEvent> events) {
    PublishResult result;
    for (const auto& event : events) {
        try {
            publish(event);
        } catch (const std::exception& e) {
            result.error = e.what();
            return result;
        }
        ++result.accepted;
    }
    return result;
}

std::unique_ptr<Subscription> Bus::subscribe(std::string durable_name, std::string type_filter,
                                             Handler handler) {
    SubscribeOptions options;
    options.durable_name = std::move(durable_name);
    options.type_filter = std::move(type_filter);
    return subscribe(std::move(options), std::move(handler));
}

void check_event_type(std::string_view type) {
    if (type.empty()) throw InvalidEvent("CloudEvent attribute 'type': is required");
    for (auto token : tokens(type)) {
        if (token.empty() || token == "*" || token == ">" || !valid_token_chars(token) ||
            token.find_first_of("*>") != std::string_view::npos) {
            throw InvalidEvent(
                "CloudEvent attribute 'type': '" + std::string(type) +
                "' is not usable as a subject (dot-separated tokens without spaces, '*' or '>')");
        }
    }
}

bool valid_type_filter(std::string_view filter) {
    if (filter.empty()) return false;
    const auto parts = tokens(filter);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto token = parts[i];
        if (token.empty() || !valid_token_chars(token)) return false;
        if (token == ">") {
            if (i + 1 != parts.size()) return false;  // '>' only at the end
        } else if (token != "*" && token.find_first_of("*>") != std::string_view::npos) {
            return false;
        }
    }
    return true;
}

bool valid_durable_name(std::string_view name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_';
    });
}

bool type_matches(std::string_view filter, std::string_view type) {
    const auto f = tokens(filter);
    const auto t = tokens(type);
    for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] == ">") return t.size() > i;  // '>' needs at least one more token
        if (i >= t.size()) return false;
        if (f[i] != "*" && f[i] != t[i]) return false;
    }
    return f.size() == t.size();
}

bool filter_covers(std::string_view pattern, std::string_view filter) {
    const auto p = tokens(pattern);
    const auto f = tokens(filter);
    for (std::size_t i = 0; i < p.size(); ++i) {
        if (p[i] == ">") return f.size() > i;
        if (i >= f.size() || f[i] == ">") return false;
        if (p[i] != "*" && (f[i] == "*" || p[i] != f[i])) return false;
    }
    return p.size() == f.size();
}

std::chrono::milliseconds retry_delay(const SubscribeOptions& options, int attempt) {
    auto delay = options.retry_backoff;
    for (int i = 1; i < attempt && delay < options.max_retry_backoff; ++i) delay *= 2;
    return std::min(delay, options.max_retry_backoff);
}

bool InMemoryProcessedEvents::first_time(std::string_view event_id) {
    std::lock_guard lock(mutex_);
    const auto [it, inserted] = seen_.try_emplace(std::string(event_id), next_);
    if (!inserted) return false;
    order_.emplace_back(next_++, it->first);
    while (order_.size() > capacity_) {
        // Entries whose id was forgotten (or forgotten and seen again) no longer match their number.
        const auto& [number, id] = order_.front();
        if (auto found = seen_.find(id); found != seen_.end() && found->second == number) seen_.erase(found);
        order_.pop_front();
    }
    return true;
}

void InMemoryProcessedEvents::forget(std::string_view event_id) {
    std::lock_guard lock(mutex_);
    seen_.erase(std::string(event_id));
}

std::size_t InMemoryProcessedEvents::size() const {
    std::lock_guard lock(mutex_);
    return seen_.size();
}

Handler deduplicated(ProcessedEvents& processed, Handler handler) {
    return [&processed, handler = std::move(handler)](const CloudEvent& event) {
        if (!processed.first_time(event.id)) return;
        try {
            handler(event);
        } catch (...) {
            processed.forget(event.id);
            throw;
        }
    };
}

}  // namespace olympus::events
