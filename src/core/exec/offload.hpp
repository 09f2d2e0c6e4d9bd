#pragma once

// Runs blocking work (database calls, file I/O, password hashing) on a dedicated thread pool and
// resumes the awaiting coroutine on its own executor, so that the HTTP I/O threads never block.
//
//   User user = co_await offload.run([&] { return users.find(id); });
//
// Storage ports are synchronous and easy to test; handlers call them through `run`.

#include <exception>
#include <optional>
#include <type_traits>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace olympus::exec {

class Offload {
  public:
    explicit Offload(unsigned threads) : pool_(threads) {}
    ~Offload() { stop(); }
    Offload(const Offload&) = delete;
    Offload& operator=(const Offload&) = delete;

    template <class F>
    boost::asio::awaitable<std::invoke_result_t<F>> run(F work) {
        using Result = std::invoke_result_t<F>;
        auto home = co_await boost::asio::this_coro::executor;
        co_await boost::asio::post(pool_.get_executor(), boost::asio::use_awaitable);
        std::exception_ptr error;
        if constexpr (std::is_void_v<Result>) {
            try {
                work();
            } catch (...) {
                error = std::current_exception();
            }
            co_await boost::asio::post(home, boost::asio::use_awaitable);
            if (error) std::rethrow_exception(error);
        } else {
            std::optional<Result> result;
            try {
                result.emplace(work());
            } catch (...) {
                error = std::current_exception();
            }
            co_await boost::asio::post(home, boost::asio::use_awaitable);
            if (error) std::rethrow_exception(error);
            co_return std::move(*result);
        }
    }

    // Waits for queued work to finish and joins the threads.
    void stop() { pool_.join(); }

  private:
    boost::asio::thread_pool pool_;
};

}  // namespace olympus::exec
