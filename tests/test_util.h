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
