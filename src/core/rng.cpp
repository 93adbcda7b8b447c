#include "vit/rng.h"

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

double Rng::truncated_normal(double std, double limit) {
    for (;;) {
        double x = normal() * std;
        if (x >= -limit && x <= limit) {
            return x;
        }
    }
}

}  // namespace vit
