#include "exec/offload.hpp"

#include <stdexcept>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

namespace olympus::exec {
namespace {

TEST(Offload, RunsWorkOffTheCallingThreadAndResumesOnIt) {
    Offload offload(2);
    boost::asio::io_context io;
    std::thread::id io_thread = std::this_thread::get_id();
    std::thread::id worker, resumed;
    auto done = boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<int> {
            int v = co_await offload.run([&] {
                worker = std::this_thread::get_id();
                return 42;
            });
            resumed = std::this_thread::get_id();
            co_return v;
        },
        boost::asio::use_future);
    io.run();
    EXPECT_EQ(done.get(), 42);
    EXPECT_NE(worker, io_thread);
    EXPECT_EQ(resumed, io_thread);
}

TEST(Offload, PropagatesExceptionsBackToTheCaller) {
    Offload offload(1);
    boost::asio::io_context io;
    auto done = boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            co_await offload.run([]() -> void { throw std::runtime_error("disk on fire"); });
        },
        boost::asio::use_future);
    io.run();
    EXPECT_THROW(done.get(), std::runtime_error);
}

}  // namespace
}  // namespace olympus::exec
