#pragma once

// Runs blocking work (database calls, file I/O, password hashing) on a dedicated thread pool and
// resumes the awaiting coroutine on its own executor, so that the HTTP I/O threads never block.
//
//   User user = co_await offload.run([&] { return users.find(id); });
//
// Storage ports are synchronous and easy to test; handlers call them through `run`.

#include <type_traits>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
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
        // The work runs as a coroutine of the pool's executor; its completion (value or exception)
        // is delivered back through the caller's own executor.
        co_return co_await boost::asio::co_spawn(
            pool_.get_executor(), [&work]() -> boost::asio::awaitable<Result> { co_return work(); },
            boost::asio::use_awaitable);
    }

    // Waits for queued work to finish and joins the threads.
    void stop() { pool_.join(); }

  private:
    boost::asio::thread_pool pool_;
};

}  // namespace olympus::exec
