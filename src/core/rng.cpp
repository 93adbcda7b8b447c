#include "vit/rng.h"

#include <algorithm>
#include <cmath>

namespace vit {

double Rng::normal() {
    double u1 = uniform();
    double u2 = uniform();
    if (u1 < 1e-300) {
        u1 = 1e-300;
    }
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

// Marsaglia and Tsang's squeeze-and-reject method for shape >= 1; a shape below 1 is boosted by
// one and scaled back with U^(1/shape).
double Rng::gamma(double shape) {
    if (shape < 1.0) {
        const double u = std::max(uniform(), 1e-300);
        return gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
        const double x = normal();
        double v = 1.0 + c * x;
        if (v <= 0.0) {
            continue;
        }
        v = v * v * v;
        const double u = uniform();
        if (u < 1.0 - 0.0331 * x * x * x * x || std::log(std::max(u, 1e-300)) < 0.5 * x * x + d * (1.0 - v + std::log(v))) {
            return d * v;
        }
    }
}

double Rng::beta(double a, double b) {
    const double x = gamma(a), y = gamma(b);
    return x + y > 0.0 ? x / (x + y) : 0.5;  // both underflow only for tiny shapes
}

double Rng::truncated_normal(double std, double limit) {
    for (;;) {
        double x = normal() * std;
        if (x >= -limit && x <= limit) {
            return x;
        }
    }
}

}  // namespace vit
