#pragma once

// W3C Trace Context (level 1, with level 2's random flag when we generate the trace id): parse an
// incoming traceparent/tracestate, start a child span, and render the headers for the next hop.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace olympus::trace {

struct TraceContext {
    std::array<std::uint8_t, 16> trace_id{};
    std::array<std::uint8_t, 8> span_id{};    // this hop's span
    std::array<std::uint8_t, 8> parent_id{};  // the caller's span, zero when we started the trace
    std::uint8_t flags = 0;
    std::string tracestate;  // passed on unchanged (we add no entry of our own)

    bool sampled() const { return (flags & 0x01) != 0; }
    bool has_parent() const;

    std::string trace_id_hex() const;
    std::string span_id_hex() const;
    std::string parent_id_hex() const;
    // "00-<trace-id>-<span-id>-<flags>" for an outgoing request made within this span.
    std::string traceparent() const;

    // A new trace: random trace id (flag 0x02 set) and span id, sampled.
    static TraceContext start();
    // Continue the caller's trace with a new span of ours; a malformed header starts a new trace
    // and drops tracestate, as the specification requires.
    static TraceContext continue_from(std::string_view traceparent, std::string_view tracestate);
    // A child span within the same trace (e.g. for an outgoing call).
    TraceContext child() const;
};

struct ParsedTraceparent {
    std::array<std::uint8_t, 16> trace_id{};
    std::array<std::uint8_t, 8> parent_id{};
    std::uint8_t flags = 0;
};
// Strict parsing per Trace Context §3.2 (version 00, and forward-compatible handling of higher
// versions); nullopt when invalid, including all-zero ids and version ff.
std::optional<ParsedTraceparent> parse_traceparent(std::string_view header);

}  // namespace olympus::trace
