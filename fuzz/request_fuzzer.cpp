// libFuzzer target for the request path of the HTTP core, in process and without sockets, the
// way a connection of the server (src/core/http/connection.hpp) handles its bytes:
//   bytes → the server's RequestParser with the default ServerLimits → olympus::http::Request →
//   Router (literal, {param} and {rest...} templates, ObservabilityMiddleware) → handlers reading
//   JSON with json::parse_object and ObjectReader → serialize_head, the server's response framing.
//
// Findings (each aborts, so libFuzzer saves the input):
// - crashes, leaks and undefined behaviour (ASan + UBSan);
// - an exception other than olympus::Problem escaping a handler, or any escaping the router (the
//   router would otherwise hide it behind a 500 answer);
// - a request the server's parser accepts that Beast's stock request_parser<string_body>, with the
//   same limits, refuses or reads differently (method, target, fields, body, keep-alive);
// - a response head that does not parse back as HTTP/1.1, or carries a field the handler did not
//   set (header injection), or frames the body with the wrong length.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "http/message.hpp"
#include "http/observability_middleware.hpp"
#include "http/request_parser.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/wire.hpp"
#include "json/body.hpp"
#include "log/log.hpp"
#include "metrics/metrics.hpp"
#include "problem.hpp"

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using olympus::Problem;
using olympus::http::Request;
using olympus::http::RequestContext;
using olympus::http::Response;

[[noreturn]] void finding(std::string_view what, std::string_view detail) {
    std::fprintf(stderr, "FINDING: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

// Runs a handler body; a Problem passes through (the router renders it), anything else is a finding.
template <typename F>
Response guarded(std::string_view where, F&& body) {
    try {
        return std::forward<F>(body)();
    } catch (const Problem&) {
        throw;
    } catch (const std::exception& e) {
        finding(where, e.what());
    } catch (...) {
        finding(where, "non-standard exception");
    }
}

boost::asio::awaitable<Response> get_item(RequestContext& ctx) {
    co_return guarded("GET /v1/items/{id}", [&] {
        std::string id(ctx.param("id"));
        auto limit = ctx.request.query_param("limit");
        json::object reply{{"id", id}, {"limit", limit ? *limit : std::string()}};
        Response response = Response::json(200, json::serialize(reply));
        // A decoded parameter in a response field, as a Location header would carry it: the
        // server's framing must not send it when it holds a control character (RFC 9110 §5.5).
        response.headers.set("Content-Location", "/v1/items/" + id);
        return response;
    });
}

// A typed body with nested objects and arrays: exercises every ObjectReader accessor.
boost::asio::awaitable<Response> create_order(RequestContext& ctx) {
    co_return guarded("POST /v1/orders", [&] {
        json::object body = olympus::json::parse_object(ctx.request);
        olympus::json::ObjectReader reader(body);
        reader.reject_unknown({"customer", "items", "note", "express", "priority", "address"});
        std::string customer = reader.required_string("customer", 64);
        auto note = reader.optional_string("note", 256);
        bool express = reader.optional_bool("express").value_or(false);
        std::int64_t priority = reader.optional_int("priority", -10, 10).value_or(0);
        json::array lines;
        const json::array& items = reader.required_array("items", 16);
        for (std::size_t i = 0; i < items.size(); ++i) {
            auto item = olympus::json::object_at(items, i, reader.pointer_to("items"));
            item.reject_unknown({"sku", "quantity", "gift"});
            std::string sku = item.required_string("sku", 32);
            std::int64_t quantity = item.required_int("quantity", 1, 1000);
            bool gift = item.optional_bool("gift").value_or(false);
            lines.push_back(json::object{{"sku", sku}, {"quantity", quantity}, {"gift", gift}});
        }
        if (reader.object().contains("address")) {
            auto address = reader.required_object("address");
            address.required_string("city", 64);
            address.optional_int("zip", 0, 99999);
            address.required_bool("verified");
        }
        json::object reply{{"customer", customer},
                           {"note", note ? *note : std::string()},
                           {"express", express},
                           {"priority", priority},
                           {"items", std::move(lines)}};
        return Response::json(201, json::serialize(reply));
    });
}

boost::asio::awaitable<Response> update_item(RequestContext& ctx) {
    co_return guarded("PUT /v1/items/{id}", [&] {
        json::object body = olympus::json::parse_object(ctx.request);
        olympus::json::ObjectReader reader(body);
        std::string name = reader.required_string("name");
        auto count = reader.optional_int("count", INT64_MIN, INT64_MAX);
        json::object reply{
            {"id", std::string(ctx.param("id"))}, {"name", name}, {"count", count.value_or(0)}};
        return Response::json(200, json::serialize(reply));
    });
}

boost::asio::awaitable<Response> get_file(RequestContext& ctx) {
    co_return guarded("GET /static/{path...}", [&] {
        Response response = Response::text(200, std::string(ctx.param("path")));
        // A handler-chosen framing field and a close request: the server owns both.
        response.headers.set("Content-Length", "7");
        if (ctx.request.query_param("close")) response.headers.set("Connection", "close");
        return response;
    });
}

boost::asio::awaitable<Response> livez(RequestContext&) {
    co_return Response::json(200, R"({"status":"live"})");
}

boost::asio::awaitable<Response> no_content(RequestContext&) {
    co_return Response::text(204, "a body that must not be sent");
}

struct App {
    olympus::metrics::Registry registry;
    olympus::http::Router router;

    App() {
        router.use(std::make_shared<olympus::http::ObservabilityMiddleware>(registry, false));
        router.get("/livez", livez);
        router.get("/v1/items/{id}", get_item);
        router.put("/v1/items/{id}", update_item);
        router.del("/v1/items/{id}", no_content);
        router.post("/v1/orders", create_order);
        router.get("/static/{path...}", get_file);
    }
};

App& app() {
    static App* instance = new App();  // never destroyed: a leak report must be about one input
    return *instance;
}

// Feeds `input` to a parser as a connection would, all bytes at once; returns the bytes consumed.
template <class Parser>
std::size_t feed(Parser& parser, std::string_view input, beast::error_code& ec) {
    std::size_t consumed = 0;
    while (!parser.is_done()) {
        std::string_view rest = input.substr(consumed);
        if (rest.empty()) {
            parser.put_eof(ec);  // the client closed the connection
            break;
        }
        std::size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
        consumed += used;
        if (ec == bhttp::error::need_more) {
            ec = {};
            if (used == 0) {
                // Every byte there is has been offered and more are needed: the client closed.
                parser.put_eof(ec);
                break;
            }
            continue;
        }
        if (ec) break;
    }
    return consumed;
}

// Beast's stock parser, same limits, must read an accepted request the same way.
void check_against_stock_parser(std::string_view input, std::size_t consumed, const Request& request,
                                const olympus::http::ServerLimits& limits) {
    bhttp::request_parser<bhttp::string_body> stock;
    stock.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
    stock.body_limit(limits.body_bytes);
    stock.eager(true);
    beast::error_code ec;
    std::size_t stock_consumed = feed(stock, input, ec);
    if (ec) finding("parser differential", "stock parser refused an accepted request: " + ec.message());
    const auto& m = stock.get();
    if (stock_consumed != consumed) finding("parser differential", "consumed byte counts differ");
    if (m.method_string() != request.method_name) finding("parser differential", "method differs");
    if (m.target() != request.target) finding("parser differential", "target differs");
    if (m.body() != request.body) finding("parser differential", "body differs");
    if (m.keep_alive() != request.keep_alive) finding("parser differential", "keep-alive differs");
    // Beast's fields container keeps fields of one name together (a later "Accept" moves up to the
    // first one), so compare per name, in arrival order within each name.
    using Fields = std::vector<std::pair<std::string, std::string>>;
    auto by_name = [](Fields fields) {
        for (auto& [name, value] : fields) {
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        std::stable_sort(fields.begin(), fields.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        return fields;
    };
    Fields ours;
    Fields stock_fields;
    for (const auto& f : request.headers) ours.emplace_back(f.name, f.value);
    for (const auto& f : m) stock_fields.emplace_back(std::string(f.name_string()), std::string(f.value()));
    if (by_name(std::move(ours)) != by_name(std::move(stock_fields))) {
        finding("parser differential", "header fields differ");
    }
}

bool server_owned(std::string_view name) {
    using olympus::http::iequals;
    return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
           iequals(name, "Connection") || iequals(name, "Keep-Alive") || iequals(name, "Date") ||
           iequals(name, "Server");
}

// The head the server would write must parse back, frame the body exactly, and carry no field the
// handler did not set.
void check_response_head(const Response& response, const Request& request, bool http10) {
    olympus::http::HeadOptions options;
    options.head_request = request.method == olympus::http::Method::head;
    options.keep_alive = request.keep_alive && !olympus::http::wants_close(response);
    options.http10 = http10;
    std::string head;
    const bool with_body = olympus::http::serialize_head(response, options, head);
    if (with_body && (response.status == 204 || response.status == 304 || options.head_request)) {
        finding("serialize_head", "a body would be sent where none is allowed");
    }

    bhttp::response_parser<bhttp::empty_body> back;
    back.skip(!with_body);  // a HEAD or 204 response: no body follows the head
    beast::error_code ec;
    back.put(boost::asio::buffer(head.data(), head.size()), ec);
    if (ec || !back.is_header_done()) finding("serialize_head", "the head does not parse: " + ec.message());
    const auto& parsed = back.get();
    if (parsed.result_int() != static_cast<unsigned>(response.status)) finding("serialize_head", "status");
    for (const auto& f : parsed) {
        std::string_view name(f.name_string().data(), f.name_string().size());
        if (server_owned(name)) continue;
        bool set_by_handler = false;
        for (const auto& h : response.headers)
            set_by_handler = set_by_handler || olympus::http::iequals(h.name, name);
        if (!set_by_handler) finding("serialize_head", "field not set by the handler: " + std::string(name));
    }
    if (with_body) {
        auto length = back.content_length();
        if (!length || *length != response.body.size()) finding("serialize_head", "Content-Length is wrong");
    }
}

void serve(boost::asio::io_context& io, Request& request, bool http10) {
    bool done = false;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            RequestContext ctx(request);
            Response response = co_await app().router.dispatch(ctx);
            // Only a non-Problem exception becomes a 500 here: none of the handlers throws one.
            if (response.status == 500) finding("router", "answered 500: " + response.body);
            if (response.status < 200 || response.status > 599) finding("router", "status out of range");
            check_response_head(response, request, http10);
            done = true;
        },
        [](const std::exception_ptr& error) {
            if (!error) return;
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                finding("Router::dispatch threw", e.what());
            } catch (...) {
                finding("Router::dispatch threw", "non-standard exception");
            }
        });
    io.restart();
    io.run();
    if (!done) finding("Router::dispatch", "did not complete");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // Keep libFuzzer's output readable: nothing on the non-aborting paths needs to be logged.
    olympus::log::set_level(olympus::log::Level::error);
    app();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const olympus::http::ServerLimits limits;
    boost::asio::io_context io;
    std::string_view input(reinterpret_cast<const char*>(data), size);
    Request request;

    // Several pipelined requests may share one input, as on a keep-alive connection.
    for (int requests = 0; requests < 8 && !input.empty(); ++requests) {
        olympus::http::reset_request(request);
        olympus::http::RequestParser parser(request, limits.header_count);
        parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
        parser.body_limit(limits.body_bytes);
        parser.eager(true);

        beast::error_code ec;
        std::size_t consumed = feed(parser, input, ec);
        if (ec) {
            // The server answers 400/413/431/501/505 and closes; the 505 check reads the raw bytes.
            (void)olympus::http::other_http_version(input);
            return 0;
        }
        check_against_stock_parser(input, consumed, request, limits);
        input.remove_prefix(consumed);

        request.remote_ip = "127.0.0.1";
        serve(io, request, parser.version() == 10);
        if (!request.keep_alive) return 0;
    }
    return 0;
}
