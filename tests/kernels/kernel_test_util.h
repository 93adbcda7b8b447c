// Helpers for kernel tests: random data in float and its double twin.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/reference/reference.h"
#include "vit/rng.h"

namespace vit::test {

inline std::vector<float> random_floats(int64_t n, uint64_t seed, double scale = 1.0) {
    Rng rng(seed);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = static_cast<float>(rng.normal() * scale);
    return v;
}

inline ref::Vec to_double(const std::vector<float>& v) { return ref::Vec(v.begin(), v.end()); }

inline std::vector<float> to_float(const ref::Vec& v) { return std::vector<float>(v.begin(), v.end()); }

}  // namespace vit::test
