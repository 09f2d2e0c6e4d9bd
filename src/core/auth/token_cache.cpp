#include "auth/token_cache.hpp"

#include <cstring>
#include <list>
#include <mutex>
#include <new>
#include <stdexcept>
#include <unordered_map>

#include <openssl/evp.h>

namespace olympus::auth {
namespace {

struct DigestHash {
    // The key is already a uniformly distributed hash: its first bytes are a perfect bucket index.
    std::size_t operator()(const VerifiedTokenCache::Digest& d) const noexcept {
        std::size_t h;
        std::memcpy(&h, d.data(), sizeof h);
        return h;
    }
};

}  // namespace

struct VerifiedTokenCache::Shard {
    using Entry = std::pair<Digest, std::shared_ptr<const Claims>>;

    std::mutex mutex;
    std::size_t capacity = 0;
    std::list<Entry> order;  // most recently used first
    std::unordered_map<Digest, std::list<Entry>::iterator, DigestHash> index;
};

VerifiedTokenCache::VerifiedTokenCache(std::size_t capacity, unsigned shards) : capacity_(capacity) {
    if (shards == 0) throw std::invalid_argument("token cache: no shards");
    // Per-shard capacities add up to the total, so the bound holds exactly.
    for (unsigned i = 0; i < shards; ++i) {
        auto shard = std::make_unique<Shard>();
        shard->capacity = capacity / shards + (i < capacity % shards ? 1 : 0);
        shards_.push_back(std::move(shard));
    }
}

VerifiedTokenCache::~VerifiedTokenCache() = default;

VerifiedTokenCache::Digest VerifiedTokenCache::digest(std::string_view token) {
    Digest out{};
    unsigned int size = 0;
    if (EVP_Digest(token.data(), token.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 ||
        size != out.size()) {
        throw std::bad_alloc();  // only an allocation failure makes SHA-256 fail
    }
    return out;
}

VerifiedTokenCache::Shard& VerifiedTokenCache::shard_for(const Digest& key) {
    // Bytes other than those of the bucket hash, so that shard and bucket are independent.
    std::uint32_t v;
    std::memcpy(&v, key.data() + 8, sizeof v);
    return *shards_[v % shards_.size()];
}

std::shared_ptr<const Claims> VerifiedTokenCache::find(const Digest& key) {
    Shard& shard = shard_for(key);
    std::lock_guard lock(shard.mutex);
    auto it = shard.index.find(key);
    if (it == shard.index.end()) {
        misses_.fetch_add(1, std::memory_order_relaxed);
        return nullptr;
    }
    shard.order.splice(shard.order.begin(), shard.order, it->second);
    hits_.fetch_add(1, std::memory_order_relaxed);
    return it->second->second;
}

void VerifiedTokenCache::insert(const Digest& key, std::shared_ptr<const Claims> claims) {
    Shard& shard = shard_for(key);
    if (shard.capacity == 0) return;
    std::shared_ptr<const Claims> evicted;  // released after the lock: freeing claims takes time
    std::lock_guard lock(shard.mutex);
    if (auto it = shard.index.find(key); it != shard.index.end()) {
        it->second->second = std::move(claims);
        shard.order.splice(shard.order.begin(), shard.order, it->second);
        return;
    }
    if (shard.index.size() >= shard.capacity) {
        auto& last = shard.order.back();
        evicted = std::move(last.second);
        shard.index.erase(last.first);
        shard.order.pop_back();
    }
    shard.order.emplace_front(key, std::move(claims));
    shard.index.emplace(key, shard.order.begin());
}

void VerifiedTokenCache::erase(const Digest& key) {
    Shard& shard = shard_for(key);
    std::lock_guard lock(shard.mutex);
    if (auto it = shard.index.find(key); it != shard.index.end()) {
        shard.order.erase(it->second);
        shard.index.erase(it);
    }
}

std::size_t VerifiedTokenCache::size() const {
    std::size_t total = 0;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard->mutex);
        total += shard->index.size();
    }
    return total;
}

}  // namespace olympus::auth
