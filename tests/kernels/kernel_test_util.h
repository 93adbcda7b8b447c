// Helpers for kernel tests: random data in float and its double twin.
#pragma once

#include <cstdint>
#include <functional>
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

inline double dot(const ref::Vec& a, const ref::Vec& b) {
    double s = 0.0;
    for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
    return s;
}

// The gradient of f at x by central differences in double, h = 1e-6.
inline std::vector<float> numeric_grad(const std::function<double(const ref::Vec&)>& f, const std::vector<float>& x) {
    ref::Vec xd = to_double(x);
    ref::Vec g(xd.size());
    for (size_t i = 0; i < xd.size(); i++) {
        const double h = 1e-6, saved = xd[i];
        xd[i] = saved + h;
        const double up = f(xd);
        xd[i] = saved - h;
        const double down = f(xd);
        xd[i] = saved;
        g[i] = (up - down) / (2 * h);
    }
    return to_float(g);
}

}  // namespace vit::test
