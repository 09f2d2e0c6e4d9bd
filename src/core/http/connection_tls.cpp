// The TLS instantiation of the connection code.

#include <boost/asio/ssl/context.hpp>

#include "http/connection.hpp"

namespace olympus::http::detail {

void spawn_tls_connection(const std::shared_ptr<ServerState>& state, Shard& shard, tcp::socket socket) {
    std::string ip = remote_ip_of(socket);
    spawn_connection(state, shard, beast::ssl_stream<tcp::socket>(std::move(socket), *state->tls),
                     std::move(ip));
}

}  // namespace olympus::http::detail
