// Shared test helpers: combined absolute + relative tolerance comparisons that report the worst
// element and its index, and exact vit::Error message checks.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "vit/error.h"

namespace vit::test {

struct Tol {
    double atol = 1e-5;
    double rtol = 1e-4;
};

// Passes when |actual - expected| <= atol + rtol * |expected| for every element.
inline ::testing::AssertionResult all_near(const float* actual, const float* expected, int64_t n,
                                           Tol tol, const std::string& what) {
    int64_t worst = -1, failures = 0;
    double worst_excess = 0.0, max_abs = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double a = actual[i], e = expected[i];
        double diff = std::fabs(a - e);
        max_abs = std::max(max_abs, diff);
        double excess = diff - (tol.atol + tol.rtol * std::fabs(e));
        if (!(excess <= 0.0)) {
            failures++;
            if (worst < 0 || excess > worst_excess || std::isnan(a)) {
                worst = i;
                worst_excess = excess;
            }
        }
    }
    if (failures == 0) {
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << what << ": " << failures << " of " << n << " elements outside atol " << tol.atol
           << " + rtol " << tol.rtol << "; worst at index " << worst << ": actual " << actual[worst]
           << ", expected " << expected[worst] << " (max |diff| " << max_abs << ")";
}

inline ::testing::AssertionResult all_near(const std::vector<float>& actual,
                                           const std::vector<float>& expected, Tol tol,
                                           const std::string& what) {
    if (actual.size() != expected.size()) {
        return ::testing::AssertionFailure() << what << ": size " << actual.size() << " vs "
                                             << expected.size();
    }
    return all_near(actual.data(), expected.data(), static_cast<int64_t>(actual.size()), tol, what);
}

// ---- mixed precision ---------------------------------------------------------------------------
// Two correct bf16 computations of one model (ours and PyTorch's emulation of it) differ wherever
// a value lands so close to a bf16 rounding boundary that the fp32 summation order (oneDNN's
// blocking, OpenBLAS's kernel for this CPU) decides which way it rounds: that operand moves by a
// whole bf16 step, later values move by far more than fp32 noise and flip in turn, and the two
// computations part like two independent bf16 roundings. Such tensors are compared normwise
// and elementwise against bounds measured from that spread (make_fixtures.py's bf16_spread).
struct Bf16Tol {
    double normwise = 0.0;     // bound on ||a - e||_2 / ||e||_2
    double elementwise = 0.0;  // bound on |a_i - e_i| / (|e_i| + rms(e))
};

inline ::testing::AssertionResult bf16_near(const float* actual, const float* expected, int64_t n,
                                            Bf16Tol tol, const std::string& what) {
    double diff2 = 0.0, expected2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = static_cast<double>(actual[i]) - expected[i];
        diff2 += d * d;
        expected2 += static_cast<double>(expected[i]) * expected[i];
    }
    const double rms = n > 0 ? std::sqrt(expected2 / static_cast<double>(n)) : 0.0;
    int64_t worst = -1, failures = 0;
    double worst_ratio = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double scale = std::fabs(static_cast<double>(expected[i])) + rms;
        const double ratio = std::fabs(static_cast<double>(actual[i]) - expected[i]) / scale;
        if (!(ratio <= tol.elementwise)) {
            failures++;
            if (worst < 0 || ratio > worst_ratio || std::isnan(ratio)) {
                worst = i;
                worst_ratio = ratio;
            }
        }
    }
    const double normwise = std::sqrt(diff2) / std::max(std::sqrt(expected2), 1e-30);
    if (failures == 0 && normwise <= tol.normwise) {
        return ::testing::AssertionSuccess() << what << ": normwise " << normwise;
    }
    auto r = ::testing::AssertionFailure();
    r << what << ": normwise difference " << normwise << " (bound " << tol.normwise << ")";
    if (failures > 0) {
        r << "; " << failures << " of " << n << " elements outside " << tol.elementwise
          << " (|e| + rms); worst at index " << worst << ": actual " << actual[worst] << ", expected "
          << expected[worst] << " (" << worst_ratio << ")";
    }
    return r;
}

}  // namespace vit::test

// Expects `statement` to throw vit::Error whose message equals `message`.
#define EXPECT_VIT_ERROR(statement, message)                                     \
    do {                                                                         \
        try {                                                                    \
            statement;                                                           \
            ADD_FAILURE() << "expected vit::Error: " << (message);               \
        } catch (const ::vit::Error& e) {                                        \
            EXPECT_EQ(std::string(e.what()), std::string(message));              \
        }                                                                        \
    } while (0)

// Expects `statement` to throw vit::Error whose message contains `part` (for messages that
// name temporary files).
#define EXPECT_VIT_ERROR_HAS(statement, part)                                              \
    do {                                                                                   \
        try {                                                                              \
            statement;                                                                     \
            ADD_FAILURE() << "expected vit::Error containing: " << (part);                 \
        } catch (const ::vit::Error& e) {                                                  \
            EXPECT_NE(std::string(e.what()).find(part), std::string::npos)                 \
                << "message: " << e.what() << "\nexpected to contain: " << (part);          \
        }                                                                                  \
    } while (0)
