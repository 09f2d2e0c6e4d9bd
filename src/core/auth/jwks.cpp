#include "auth/jwks.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include "http/message.hpp"
#include "log/log.hpp"

namespace olympus::auth {
namespace {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

std::optional<std::chrono::seconds> cache_control_max_age(std::string_view value) {
    std::optional<std::chrono::seconds> max_age;
    while (!value.empty()) {
        auto comma = value.find(',');
        std::string_view directive = trim(value.substr(0, comma));
        value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);

        auto eq = directive.find('=');
        std::string_view name = trim(directive.substr(0, eq));
        if (http::iequals(name, "no-store") || http::iequals(name, "no-cache"))
            return std::chrono::seconds(0);
        if (!http::iequals(name, "max-age") || eq == std::string_view::npos || max_age) continue;
        std::string_view number = trim(directive.substr(eq + 1));
        if (number.size() >= 2 && number.front() == '"' && number.back() == '"') {
            number = number.substr(1, number.size() - 2);
        }
        std::int64_t seconds = 0;
        auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), seconds);
        if (ec == std::errc::result_out_of_range) {
            seconds = INT32_MAX;  // RFC 9111 §1.2.2: an overflowing delta means "very long"
        } else if (ec != std::errc() || end != number.data() + number.size() || seconds < 0) {
            continue;
        }
        max_age = std::chrono::seconds(seconds);
    }
    return max_age;
}

struct JwksClient::State {
    State(std::shared_ptr<JwksSource> s, JwksOptions o) : source(std::move(s)), options(std::move(o)) {}

    const std::shared_ptr<JwksSource> source;
    const JwksOptions options;

    mutable std::mutex mutex;
    std::shared_ptr<const KeySet> keys;                   // null until a first successful fetch
    SteadyClock::time_point fresh_until{};                // keys older than this are refreshed
    std::optional<SteadyClock::time_point> last_attempt;  // for the rate limit
    bool in_flight = false;
    bool last_fetch_installed = false;  // the outcome of the latest fetch, for refresh() waiters
    // Callers waiting for the fetch in flight, resumed on their own executors when it ends.
    struct Waiter {
        asio::any_io_executor executor;
        asio::any_completion_handler<void()> handler;
    };
    std::vector<Waiter> waiters;

    std::atomic<std::uint64_t> attempts{0};
    std::atomic<std::uint64_t> failures{0};

    SteadyClock::time_point now() const { return options.clock ? options.clock() : SteadyClock::now(); }

    // With `mutex` held.
    bool may_fetch(SteadyClock::time_point t) const {
        if (!last_attempt) return true;
        return t - *last_attempt >= (keys ? options.refetch_interval : options.initial_retry_interval);
    }
    // With `mutex` held: this caller becomes the one that fetches.
    void claim_fetch(SteadyClock::time_point t) {
        in_flight = true;
        last_attempt = t;
        attempts.fetch_add(1, std::memory_order_relaxed);
    }

    std::shared_ptr<const KeySet> current() const {
        std::lock_guard lock(mutex);
        return keys;
    }

    std::chrono::seconds lifetime(std::optional<std::chrono::seconds> max_age) const {
        return std::clamp(max_age.value_or(options.default_max_age), options.min_max_age,
                          options.max_max_age);
    }

    KeySet parse_key_set(const std::string& body) const;
    static asio::awaitable<bool> run_fetch(std::shared_ptr<State> state);
    static asio::awaitable<void> wait_for_fetch(std::shared_ptr<State> state);
};

// Parses a fetched document; throws when it holds no usable key, so that a broken publication
// never replaces good keys.
KeySet JwksClient::State::parse_key_set(const std::string& body) const {
    boost::system::error_code ec;
    auto value = boost::json::parse(body, ec);
    if (ec) throw std::runtime_error("the answer is not JSON");
    std::vector<KeySet::Skipped> skipped;
    KeySet fetched = KeySet::from_jwks(value, &skipped);
    for (const auto& s : skipped) {
        log::warn(
            "jwks: key skipped",
            {{"url.full", source->describe()}, {"olympus.jwks.kid", s.kid}, {"error.message", s.reason}});
    }
    if (fetched.empty()) throw std::runtime_error("the key set holds no usable key");
    return fetched;
}

// Runs one fetch; the caller has claimed it (in_flight). Never throws: a failure keeps the keys.
asio::awaitable<bool> JwksClient::State::run_fetch(std::shared_ptr<State> state) {
    // Releases the claim even if this coroutine is destroyed before it ends (its io_context shut
    // down), so that later callers do not wait for a fetch that will never finish.
    struct Release {
        State& s;
        ~Release() {
            std::vector<Waiter> waiting;
            {
                std::lock_guard lock(s.mutex);
                s.in_flight = false;
                waiting.swap(s.waiters);
            }
            for (auto& w : waiting) {
                asio::post(w.executor, [h = std::move(w.handler)]() mutable { std::move(h)(); });
            }
        }
    } release{*state};

    bool installed = false;
    std::string error;
    try {
        JwksDocument document = co_await state->source->fetch();
        auto keys = std::make_shared<const KeySet>(state->parse_key_set(document.body));
        const auto lifetime = state->lifetime(document.max_age);
        const auto count = keys->size();
        {
            std::lock_guard lock(state->mutex);
            state->keys = std::move(keys);
            state->fresh_until = state->now() + lifetime;
        }
        installed = true;
        log::info("jwks: key set fetched", {{"url.full", state->source->describe()},
                                            {"olympus.jwks.keys", count},
                                            {"olympus.jwks.max_age_seconds", lifetime.count()}});
    } catch (const std::exception& e) {
        error = e.what();
    } catch (...) {
        error = "unknown error";
    }
    {
        std::lock_guard lock(state->mutex);
        state->last_fetch_installed = installed;
    }
    if (!installed) {
        state->failures.fetch_add(1, std::memory_order_relaxed);
        log::warn("jwks: fetch failed, keeping the keys in hand",
                  {{"url.full", state->source->describe()}, {"error.message", error}});
    }
    co_return installed;
}

// Resumes when the fetch in flight has ended (at once when none is).
asio::awaitable<void> JwksClient::State::wait_for_fetch(std::shared_ptr<State> state) {
    // A named initiation capturing a plain pointer (this frame keeps the state alive): g++ 12
    // destroys some temporaries of a co_await expression twice, a captured shared_ptr included.
    State* s = state.get();
    auto enqueue = [s](auto handler) {
        asio::any_io_executor executor = asio::get_associated_executor(handler);
        std::unique_lock lock(s->mutex);
        if (s->in_flight) {
            s->waiters.push_back({std::move(executor), std::move(handler)});
            return;
        }
        lock.unlock();
        asio::post(executor, [h = std::move(handler)]() mutable { std::move(h)(); });
    };
    co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(enqueue, asio::use_awaitable);
}

JwksClient::JwksClient(std::shared_ptr<JwksSource> source, JwksOptions options) {
    if (!source) throw std::invalid_argument("jwks: no source");
    if (options.min_max_age > options.max_max_age)
        throw std::invalid_argument("jwks: min_max_age > max_max_age");
    state_ = std::make_shared<State>(std::move(source), std::move(options));
}

JwksClient::~JwksClient() = default;

asio::awaitable<std::shared_ptr<const KeySet>> JwksClient::keys(std::string kid) {
    auto state = state_;
    enum class Step { use, fetch, wait, refresh_in_background } step = Step::use;
    {
        std::lock_guard lock(state->mutex);
        const auto now = state->now();
        const bool known = state->keys && (kid.empty() ? !state->keys->empty() : state->keys->contains(kid));
        if (known) {
            if (now >= state->fresh_until && !state->in_flight && state->may_fetch(now)) {
                state->claim_fetch(now);
                step = Step::refresh_in_background;
            }
        } else if (state->in_flight) {
            step = Step::wait;
        } else if (state->may_fetch(now)) {
            state->claim_fetch(now);
            step = Step::fetch;
        }
    }
    switch (step) {
        case Step::use:
            break;
        case Step::refresh_in_background:
            // The keys in hand still verify this token; nobody waits for the refresh.
            {
                auto executor = co_await asio::this_coro::executor;
                asio::co_spawn(executor, State::run_fetch(state), asio::detached);
            }
            break;
        case Step::fetch:
            co_await State::run_fetch(state);
            break;
        case Step::wait:
            co_await State::wait_for_fetch(state);
            break;
    }
    co_return state->current();
}

asio::awaitable<bool> JwksClient::refresh() {
    auto state = state_;
    bool wait = false;
    {
        std::lock_guard lock(state->mutex);
        if (state->in_flight) {
            wait = true;
        } else {
            state->claim_fetch(state->now());
        }
    }
    if (!wait) co_return co_await State::run_fetch(state);
    co_await State::wait_for_fetch(state);
    bool installed = false;
    {
        std::lock_guard lock(state->mutex);
        installed = state->last_fetch_installed;
    }
    co_return installed;
}

std::shared_ptr<const KeySet> JwksClient::current() const {
    return state_->current();
}
std::uint64_t JwksClient::fetch_attempts() const {
    return state_->attempts.load(std::memory_order_relaxed);
}
std::uint64_t JwksClient::fetch_failures() const {
    return state_->failures.load(std::memory_order_relaxed);
}

}  // namespace olympus::auth
