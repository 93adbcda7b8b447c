// The per-head products of attention in mixed precision: C = alpha * A B with A and B in bf16
// and the sums in fp32, as the CPU's bf16 dot-product instruction computes them (vdpbf16ps:
// for each fp32 lane, acc += a[2i+1] b[2i+1], then acc += a[2i] b[2i]; each product of two bf16
// values is exact in fp32).
//
// That instruction multiplies pairs of consecutive p, so B is stored in "pair panels": for each
// panel of kPanel columns and each pair of rows (2q, 2q+1), the 2 * kPanel values
// B[2q, j], B[2q+1, j] interleaved by column. The packers below build them from bf16 or fp32
// (rounded) sources with any strides, zero-padding the columns past N and the row past an odd K.
// A is read in place: its pairs A[i, 2q], A[i, 2q+1] are consecutive bf16 values, rows a_row and
// pairs a_pair values apart: a_pair = 2 for a row-major A, 2 * kPanel for rows of a pair panel
// (the transpose of a packed matrix, which is how attention takes q^T and do^T).
// The register blocking is small_gemm's: kRows x kPanel blocks of C kept in 12 registers.
//
// On CPUs without the instruction the same pair sums run on fp32 vectors (the products are
// exact, so only the flushing of subnormal values can differ).
#include <algorithm>
#include <bit>
#include <cstring>

#include "kernels/cpu/vec16.h"
#include "kernels/kernels.h"

#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

namespace vit::cpu {

namespace {

constexpr int64_t kPanel = kPairPanel;  // columns per panel: two f32x16 accumulators
constexpr int64_t kRows = 6;             // rows of C per register block

// acc[i] += a_hi b[2i+1] + a_lo b[2i] for the pair a = (a_lo, a_hi) packed in one word and 16
// pairs of b (32 bf16 values).
inline f32x16 dot_pairs(f32x16 acc, uint32_t a, const bf16* b) {
#if defined(__AVX512BF16__)
    return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_set1_epi32(static_cast<int>(a)),
                            (__m512bh)_mm512_loadu_si512(b));
#else
    u32x16 w;
    std::memcpy(&w, b, sizeof w);
    const f32x16 b_lo = (f32x16)(w << 16), b_hi = (f32x16)(w & 0xffff0000u);
    acc += splat16(std::bit_cast<float>(a & 0xffff0000u)) * b_hi;
    acc += splat16(std::bit_cast<float>(a << 16)) * b_lo;
    return acc;
#endif
}

inline uint32_t load_pair(const bf16* a) {
    uint32_t w;
    std::memcpy(&w, a, sizeof w);
    return w;
}

// C[R, cols] = alpha * A[R, K] panel[K, kPanel] for the first cols <= 16 * V columns (V = 1 for
// a panel of at most 16 columns: its second half is zero padding); element (i, j) of C at
// C[i * c_row + j * c_col].
template <int64_t R, int64_t V>
void block_product(float* C, int64_t c_row, int64_t c_col, const bf16* A, int64_t a_row, int64_t a_pair,
                   const bf16* panel, int64_t K, int64_t cols, float alpha) {
    // Every loop over the R x V accumulators is unrolled, so that they live in registers
    // throughout (otherwise GCC keeps the array on the stack and moves it in and out around
    // the main loop).
    f32x16 acc[R][V];
#pragma GCC unroll 8
    for (int64_t r = 0; r < R; r++) {
#pragma GCC unroll 2
        for (int64_t v = 0; v < V; v++) acc[r][v] = f32x16{};
    }
    const int64_t pairs = K / 2;
    for (int64_t q = 0; q < pairs; q++) {
        const bf16* b = panel + q * 2 * kPanel;
#pragma GCC unroll 8
        for (int64_t r = 0; r < R; r++) {
            const uint32_t a = load_pair(A + r * a_row + q * a_pair);
#pragma GCC unroll 2
            for (int64_t v = 0; v < V; v++) acc[r][v] = dot_pairs(acc[r][v], a, b + 32 * v);  // 16 pairs per vector
        }
    }
    if (K % 2 != 0) {  // the last p alone: (A[i, K-1], 0) against the panel's zero-padded pair
        const bf16* b = panel + pairs * 2 * kPanel;
#pragma GCC unroll 8
        for (int64_t r = 0; r < R; r++) {
            const uint32_t a = A[r * a_row + pairs * a_pair].bits;
#pragma GCC unroll 2
            for (int64_t v = 0; v < V; v++) acc[r][v] = dot_pairs(acc[r][v], a, b + 32 * v);
        }
    }
    const int64_t last = cols - 16 * (V - 1);  // lanes of the last vector that are columns of C
    if (c_col == 1) {
#pragma GCC unroll 8
        for (int64_t r = 0; r < R; r++) {
#pragma GCC unroll 2
            for (int64_t v = 0; v < V; v++) {
                store_first(C + r * c_row + 16 * v, acc[r][v] * alpha, v == V - 1 ? last : 16);
            }
        }
        return;
    }
    float lanes[R][16 * V];
#pragma GCC unroll 8
    for (int64_t r = 0; r < R; r++) {
#pragma GCC unroll 2
        for (int64_t v = 0; v < V; v++) store16(lanes[r] + 16 * v, acc[r][v] * alpha);
    }
    for (int64_t r = 0; r < R; r++) {
        for (int64_t j = 0; j < cols; j++) C[r * c_row + j * c_col] = lanes[r][j];
    }
}

static_assert(kRows == 6, "block_product_rows dispatches up to 6 rows");
template <int64_t V>
void block_product_rows(int64_t rows, float* C, int64_t c_row, int64_t c_col, const bf16* A, int64_t a_row,
                        int64_t a_pair, const bf16* panel, int64_t K, int64_t cols, float alpha) {
    switch (rows) {
        case 6: block_product<6, V>(C, c_row, c_col, A, a_row, a_pair, panel, K, cols, alpha); break;
        case 5: block_product<5, V>(C, c_row, c_col, A, a_row, a_pair, panel, K, cols, alpha); break;
        case 4: block_product<4, V>(C, c_row, c_col, A, a_row, a_pair, panel, K, cols, alpha); break;
        case 3: block_product<3, V>(C, c_row, c_col, A, a_row, a_pair, panel, K, cols, alpha); break;
        case 2: block_product<2, V>(C, c_row, c_col, A, a_row, a_pair, panel, K, cols, alpha); break;
        default: block_product<1, V>(C, c_row, c_col, A, a_row, a_pair, panel, K, cols, alpha); break;
    }
}

inline uint16_t bits_of(bf16 x) { return x.bits; }
inline uint16_t bits_of(float x) { return to_bf16(x).bits; }

// Pair panels of B (element (p, j) at B[p * b_row + j * b_col]), see the file comment.
template <typename T>
void pack_pairs(bf16* panels, const T* B, int64_t b_row, int64_t b_col, int64_t K, int64_t N) {
    const int64_t pairs = (K + 1) / 2;
    uint32_t* out = reinterpret_cast<uint32_t*>(panels);  // one word per (pair, column)
    for (int64_t j0 = 0; j0 < N; j0 += kPanel) {
        const int64_t cols = N - j0 < kPanel ? N - j0 : kPanel;
        for (int64_t q = 0; q < pairs; q++) {
            uint32_t* dst = out + (j0 / kPanel * pairs + q) * kPanel;
            const T* lo = B + 2 * q * b_row + j0 * b_col;
            const bool has_hi = 2 * q + 1 < K;
            if (b_col == 1) {  // rows of B contiguous: 16 columns per vector, zeros past cols
                for (int64_t j = 0; j < kPanel; j += 16) {
                    const int64_t n = std::clamp<int64_t>(cols - j, 0, 16);
                    const u32x16 w_lo = load_first_bits(lo + j, n);
                    store16(dst + j, has_hi ? w_lo | load_first_bits(lo + b_row + j, n) << 16 : w_lo);
                }
                continue;
            }
            for (int64_t j = 0; j < kPanel; j++) {
                uint32_t w = 0;
                if (j < cols) {
                    w = bits_of(lo[j * b_col]);
                    if (has_hi) w |= static_cast<uint32_t>(bits_of(lo[j * b_col + b_row])) << 16;
                }
                dst[j] = w;
            }
        }
    }
}

// Rows i and i + b of a 16 x 16 word block, for the step of `transpose16` that swaps the
// off-diagonal b x b blocks of every 2b x 2b block.
template <int b>
void swap_blocks(u32x16& lo, u32x16& hi) {
    u32x16 new_lo, new_hi;
    if constexpr (b == 8) {
        new_lo = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        new_hi = __builtin_shufflevector(lo, hi, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    } else if constexpr (b == 4) {
        new_lo = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
        new_hi = __builtin_shufflevector(lo, hi, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    } else if constexpr (b == 2) {
        new_lo = __builtin_shufflevector(lo, hi, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
        new_hi = __builtin_shufflevector(lo, hi, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    } else {
        new_lo = __builtin_shufflevector(lo, hi, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
        new_hi = __builtin_shufflevector(lo, hi, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
    }
    lo = new_lo;
    hi = new_hi;
}

template <int b>
void swap_blocks_all(u32x16 (&r)[16]) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) {
        if ((i & b) == 0) swap_blocks<b>(r[i], r[i + b]);
    }
}

// r = r^T for a 16 x 16 block of words held as 16 rows: swapping the off-diagonal halves, then
// quarters within each half, and so on down to single words, transposes it.
void transpose16(u32x16 (&r)[16]) {
    swap_blocks_all<8>(r);
    swap_blocks_all<4>(r);
    swap_blocks_all<2>(r);
    swap_blocks_all<1>(r);
}

// The same for a transposed bf16 view (b_row == 1, K even): column j of B is a contiguous run of
// K / 2 pairs (one word each). Blocks of 16 columns x 16 pairs are loaded as 16 vectors,
// transposed in registers and stored as 16 pair rows of the panel; columns past N are zeros.
void pack_pairs_transposed(bf16* panels, const bf16* B, int64_t b_col, int64_t K, int64_t N) {
    const int64_t pairs = K / 2;
    uint32_t* out = reinterpret_cast<uint32_t*>(panels);
    for (int64_t j0 = 0; j0 < N; j0 += 16) {
        const int64_t cols = std::min<int64_t>(16, N - j0);
        uint32_t* panel = out + j0 / kPanel * pairs * kPanel + j0 % kPanel;
        for (int64_t q0 = 0; q0 < pairs; q0 += 16) {
            const int64_t words = std::min<int64_t>(16, pairs - q0);
            u32x16 r[16];
#pragma GCC unroll 16
            for (int64_t j = 0; j < 16; j++) {
                r[j] = j < cols ? load_first_words(B + (j0 + j) * b_col + 2 * q0, words) : u32x16{};
            }
            transpose16(r);
            for (int64_t q = 0; q < words; q++) store16(panel + (q0 + q) * kPanel, r[q]);
        }
    }
    if (N % kPanel != 0 && N % kPanel <= 16) {  // the last panel's second half: all padding
        uint32_t* panel = out + N / kPanel * pairs * kPanel + 16;
        for (int64_t q = 0; q < pairs; q++) store16(panel + q * kPanel, u32x16{});
    }
}

}  // namespace

int64_t pair_panel_size(int64_t K, int64_t N) {
    return (K + 1) / 2 * 2 * ((N + kPanel - 1) / kPanel * kPanel);
}

void pack_pair_panels(bf16* panels, const bf16* B, int64_t b_row, int64_t b_col, int64_t K, int64_t N) {
    if (K == 0) {
        return;  // no pairs: the panels are empty (and may be nullptr)
    }
    if (b_row == 1 && b_col != 1 && K % 2 == 0) {
        pack_pairs_transposed(panels, B, b_col, K, N);
        return;
    }
    pack_pairs(panels, B, b_row, b_col, K, N);
}

void pack_pair_panels(bf16* panels, const float* B, int64_t b_row, int64_t b_col, int64_t K, int64_t N) {
    if (K == 0) {
        return;
    }
    pack_pairs(panels, B, b_row, b_col, K, N);
}

void small_gemm_bf16(float* C, int64_t c_row, int64_t c_col, const bf16* A, int64_t a_row, int64_t a_pair,
                     const bf16* panels, int64_t M, int64_t N, int64_t K, float alpha) {
    const int64_t panel_size = (K + 1) / 2 * 2 * kPanel;
    for (int64_t j0 = 0; j0 < N; j0 += kPanel) {
        const int64_t cols = N - j0 < kPanel ? N - j0 : kPanel;
        const bf16* panel = panels + j0 / kPanel * panel_size;
        for (int64_t i0 = 0; i0 < M; i0 += kRows) {
            const int64_t rows = M - i0 < kRows ? M - i0 : kRows;
            float* c = C + i0 * c_row + j0 * c_col;
            if (cols > 16) {
                block_product_rows<2>(rows, c, c_row, c_col, A + i0 * a_row, a_row, a_pair, panel, K, cols, alpha);
            } else {
                block_product_rows<1>(rows, c, c_row, c_col, A + i0 * a_row, a_row, a_pair, panel, K, cols, alpha);
            }
        }
    }
}

}  // namespace vit::cpu
