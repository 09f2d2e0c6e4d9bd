#include "problem.hpp"

#include <boost/json/serialize.hpp>

namespace olympus {

Problem::Problem(int status, std::string title, std::string detail, std::string type)
    : status_(status), title_(std::move(title)), detail_(std::move(detail)), type_(std::move(type)) {}

Problem Problem::bad_request(std::string detail) {
    return {400, "Bad Request", std::move(detail)};
}
Problem Problem::unauthorized(std::string detail) {
    return {401, "Unauthorized", std::move(detail)};
}
Problem Problem::forbidden(std::string detail) {
    return {403, "Forbidden", std::move(detail)};
}
Problem Problem::not_found(std::string detail) {
    return {404, "Not Found", std::move(detail)};
}
Problem Problem::method_not_allowed(std::string detail) {
    return {405, "Method Not Allowed", std::move(detail)};
}
Problem Problem::conflict(std::string detail) {
    return {409, "Conflict", std::move(detail)};
}
Problem Problem::payload_too_large(std::string detail) {
    return {413, "Content Too Large", std::move(detail)};
}
Problem Problem::unsupported_media_type(std::string detail) {
    return {415, "Unsupported Media Type", std::move(detail)};
}
Problem Problem::unprocessable(std::string detail) {
    return {422, "Unprocessable Content", std::move(detail)};
}
Problem Problem::internal() {
    return {500, "Internal Server Error"};
}

Problem& Problem::with(std::string_view key, boost::json::value value) {
    extensions_[key] = std::move(value);
    return *this;
}

std::string Problem::to_json(std::string_view instance) const {
    boost::json::object body = extensions_;
    // The standard members win over an extension of the same name.
    body["type"] = type_;
    body["title"] = title_;
    body["status"] = status_;
    if (!detail_.empty()) body["detail"] = detail_;
    if (!instance.empty()) body["instance"] = instance;
    return boost::json::serialize(body);
}

http::Response Problem::to_response(std::string_view instance) const {
    return http::Response::text(status_, to_json(instance), "application/problem+json");
}

}  // namespace olympus
