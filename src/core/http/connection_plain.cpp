// The plain-TCP instantiation of the connection code, in its own translation unit so that the TLS
// one compiles in parallel.

#include "http/connection.hpp"

namespace olympus::http::detail {

void spawn_plain_connection(const std::shared_ptr<ServerState>& state, Shard& shard, tcp::socket socket) {
    std::string ip = remote_ip_of(socket);
    spawn_connection<tcp::socket>(state, shard, std::move(socket), std::move(ip));
}

}  // namespace olympus::http::detail
