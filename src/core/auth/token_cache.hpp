#pragma once

// Remembers tokens whose signature and claims were verified, so that a token presented again (a
// client reuses its access token for every call until it expires) costs one SHA-256 and a lookup
// instead of a signature verification (≈ 60 µs for ES256). The caller still re-checks the lifetime
// of a hit: the cache saves the cryptography, never the clock.
//
// Entries are keyed by the SHA-256 of the whole token: a cryptographic hash, because a collision
// with a cached token would be accepted without any check. Bounded: each shard evicts its least
// recently used entry. Sharded so that threads serving requests rarely contend on one mutex.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "auth/claims.hpp"

namespace olympus::auth {

class VerifiedTokenCache {
  public:
    using Digest = std::array<unsigned char, 32>;

    // `capacity` 0 disables the cache. Throws std::invalid_argument when shards is 0.
    explicit VerifiedTokenCache(std::size_t capacity, unsigned shards = 16);
    ~VerifiedTokenCache();
    VerifiedTokenCache(const VerifiedTokenCache&) = delete;
    VerifiedTokenCache& operator=(const VerifiedTokenCache&) = delete;

    static Digest digest(std::string_view token);

    // The claims stored for that token, or null; a hit becomes the most recently used.
    std::shared_ptr<const Claims> find(const Digest& key);
    void insert(const Digest& key, std::shared_ptr<const Claims> claims);
    void erase(const Digest& key);

    std::size_t size() const;
    std::size_t capacity() const { return capacity_; }
    std::uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
    std::uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

  private:
    struct Shard;
    Shard& shard_for(const Digest& key);

    std::size_t capacity_;
    std::vector<std::unique_ptr<Shard>> shards_;
    std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> misses_{0};
};

}  // namespace olympus::auth
