// Counter-based random numbers: value i of stream s under seed k is a pure function of (k, s, i),
// so results do not depend on the thread count or the order in which elements are visited.
// Dropout masks are regenerated in the backward pass instead of being stored.
#pragma once

#include <cstdint>

namespace vit {

// SplitMix64 finaliser: a bijective 64-bit mix with good avalanche.
inline uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Uniform in [0, 1) with 24 random bits, for element i of stream `stream` under `seed`.
inline float uniform01(uint64_t seed, uint64_t stream, uint64_t i) {
    uint64_t h = mix64(seed ^ mix64(stream ^ mix64(i)));
    return static_cast<float>(h >> 40) * (1.0f / 16777216.0f);
}

// A small sequential generator for initialisation and shuffling.
class Rng {
  public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next_u64() { return mix64(state_++); }
    double uniform() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
    double normal();                                   // standard normal (Box-Muller)
    double truncated_normal(double std, double limit);  // N(0, std^2) resampled into [-limit, limit]
    double gamma(double shape);                         // Gamma(shape, scale 1), shape > 0
    double beta(double a, double b);                    // Beta(a, b), a, b > 0
    uint64_t state() const { return state_; }
    void set_state(uint64_t s) { state_ = s; }

  private:
    uint64_t state_;
};

}  // namespace vit
