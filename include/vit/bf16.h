// bf16: the upper 16 bits of an IEEE fp32 number (8 exponent bits, 7 mantissa bits). Mixed
// precision keeps fp32 master values and rounds copies to bf16 for the matrix products, which
// oneDNN runs on the CPU's bf16 dot-product instructions with fp32 accumulation.
#pragma once

#include <bit>
#include <cstdint>

namespace vit {

struct bf16 {
    uint16_t bits;
    bool operator==(const bf16&) const = default;  // same bits
};

// Round to nearest, ties to even (as PyTorch's x.bfloat16()); NaN stays a quiet NaN.
inline bf16 to_bf16(float x) {
    const uint32_t u = std::bit_cast<uint32_t>(x);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
    return bf16{static_cast<uint16_t>(nan ? ((u >> 16) | 0x40u) : rounded)};
}

inline float to_float(bf16 x) { return std::bit_cast<float>(static_cast<uint32_t>(x.bits) << 16); }

}  // namespace vit
