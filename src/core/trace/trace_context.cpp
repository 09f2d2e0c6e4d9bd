#include "trace/trace_context.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <openssl/rand.h>

namespace olympus::trace {

namespace {

constexpr char kHex[] = "0123456789abcdef";

template <std::size_t N>
std::string to_hex(const std::array<std::uint8_t, N>& bytes) {
    std::string out(N * 2, '0');
    for (std::size_t i = 0; i < N; ++i) {
        out[2 * i] = kHex[bytes[i] >> 4];
        out[2 * i + 1] = kHex[bytes[i] & 0x0f];
    }
    return out;
}

// Lower-case hex only: the specification forbids upper case in traceparent.
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

template <std::size_t N>
bool from_hex(std::string_view text, std::array<std::uint8_t, N>& out) {
    if (text.size() != N * 2) return false;
    for (std::size_t i = 0; i < N; ++i) {
        int hi = hex_value(text[2 * i]);
        int lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

// Trace and span ids need uniqueness, not secrecy: a per-thread xoshiro256** generator seeded once
// from the operating system's CSPRNG costs nanoseconds, where RAND_bytes per id cost a sixth of
// the server's CPU under load.
class IdGenerator {
  public:
    IdGenerator() {
        if (RAND_bytes(reinterpret_cast<unsigned char*>(state_), sizeof(state_)) != 1) {
            throw std::runtime_error("RAND_bytes failed");
        }
        if ((state_[0] | state_[1] | state_[2] | state_[3]) == 0) state_[0] = 1;
    }

    std::uint64_t next() {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

  private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t state_[4];
};

template <std::size_t N>
void fill_random(std::array<std::uint8_t, N>& bytes) {
    thread_local IdGenerator generator;
    do {
        for (std::size_t i = 0; i < N; i += 8) {
            std::uint64_t word = generator.next();
            std::memcpy(bytes.data() + i, &word, std::min<std::size_t>(8, N - i));
        }
    } while (all_zero(bytes));
}

}  // namespace

std::optional<ParsedTraceparent> parse_traceparent(std::string_view header) {
    // version "-" trace-id "-" parent-id "-" trace-flags; 2+1+32+1+16+1+2 = 55 characters.
    if (header.size() < 55) return std::nullopt;
    std::array<std::uint8_t, 1> version{};
    if (!from_hex(header.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
    if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
    // Version 00 is exactly 55 characters; a higher version may append "-"-separated fields.
    if (version[0] == 0 && header.size() != 55) return std::nullopt;
    if (version[0] != 0 && header.size() > 55 && header[55] != '-') return std::nullopt;

    ParsedTraceparent parsed;
    std::array<std::uint8_t, 1> flags{};
    if (!from_hex(header.substr(3, 32), parsed.trace_id) ||
        !from_hex(header.substr(36, 16), parsed.parent_id) || !from_hex(header.substr(53, 2), flags)) {
        return std::nullopt;
    }
    if (all_zero(parsed.trace_id) || all_zero(parsed.parent_id)) return std::nullopt;
    parsed.flags = flags[0];
    return parsed;
}

bool TraceContext::has_parent() const {
    return !all_zero(parent_id);
}

std::string TraceContext::trace_id_hex() const {
    return to_hex(trace_id);
}
std::string TraceContext::span_id_hex() const {
    return to_hex(span_id);
}
std::string TraceContext::parent_id_hex() const {
    return to_hex(parent_id);
}

std::string TraceContext::traceparent() const {
    std::string out;
    out.reserve(55);
    out += "00-";
    out += trace_id_hex();
    out += '-';
    out += span_id_hex();
    out += '-';
    // Only the flags defined by level 1 and 2 (sampled, random) are passed on.
    std::uint8_t known = flags & 0x03;
    out += kHex[known >> 4];
    out += kHex[known & 0x0f];
    return out;
}

TraceContext TraceContext::start() {
    TraceContext context;
    fill_random(context.trace_id);
    fill_random(context.span_id);
    context.flags = 0x01 | 0x02;  // sampled, random trace id
    return context;
}

TraceContext TraceContext::continue_from(std::string_view traceparent, std::string_view tracestate) {
    auto parsed = parse_traceparent(traceparent);
    if (!parsed) return start();
    TraceContext context;
    context.trace_id = parsed->trace_id;
    context.parent_id = parsed->parent_id;
    context.flags = parsed->flags;
    // tracestate is at most 512 characters worth propagating (§3.3.1.5); longer values are dropped.
    if (tracestate.size() <= 512) context.tracestate = std::string(tracestate);
    fill_random(context.span_id);
    return context;
}

TraceContext TraceContext::child() const {
    TraceContext context = *this;
    context.parent_id = span_id;
    fill_random(context.span_id);
    return context;
}

}  // namespace olympus::trace
