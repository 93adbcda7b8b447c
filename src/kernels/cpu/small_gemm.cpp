// The per-head matrix products of attention: C = alpha * A B with M, N, K from 1 to a few
// hundred, one call per (sample, head), single-threaded inside the caller's parallel loop.
//
// At these sizes a library sgemm spends much of its time outside the arithmetic: argument
// checks, allocating and freeing packing buffers, choosing a blocking. This kernel does only:
//  1. take B in panels of kPanel columns, K rows each: a full panel of a row-major B is read in
//     place; any other panel (a transposed view, or the last, partial one) is packed, zero-padded,
//     into a per-thread buffer that is reused across calls;
//  2. for each panel and each block of kRows rows of C, keep the kRows x kPanel block of C in
//     registers over the whole sum on p, then scale by alpha and store once.
// A is read in place with any strides: each of its elements is broadcast, so the layout of A does
// not matter. Each C element is a sum over p in order, so results do not depend on the threads.
#include <cstddef>
#include <vector>

#include "kernels/cpu/vec16.h"
#include "kernels/kernels.h"

namespace vit::cpu {

namespace {

constexpr int64_t kPanel = 32;  // columns per panel: two f32x16
constexpr int64_t kRows = 6;    // rows of C per register block: 12 accumulators

// C[R, cols] = alpha * A[R, K] panel[K, kPanel] (row stride ldp) for the first cols <= kPanel
// columns.
template <int64_t R>
void block_product(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col,
                   const float* panel, int64_t ldp, int64_t K, int64_t cols, float alpha) {
    f32x16 acc[R][2] = {};
    for (int64_t p = 0; p < K; p++) {
        const f32x16 b0 = load16(panel + p * ldp);
        const f32x16 b1 = load16(panel + p * ldp + 16);
#pragma GCC unroll 8
        for (int64_t r = 0; r < R; r++) {
            const float a = A[r * a_row + p * a_col];
            acc[r][0] += a * b0;
            acc[r][1] += a * b1;
        }
    }
#pragma GCC unroll 8
    for (int64_t r = 0; r < R; r++) {
        float* c = C + r * ldc;
        if (cols == kPanel) {
            store16(c, acc[r][0] * alpha);
            store16(c + 16, acc[r][1] * alpha);
        } else {
            float row[kPanel];
            store16(row, acc[r][0] * alpha);
            store16(row + 16, acc[r][1] * alpha);
            for (int64_t j = 0; j < cols; j++) c[j] = row[j];
        }
    }
}

static_assert(kRows == 6, "block_product_rows dispatches up to 6 rows");
void block_product_rows(int64_t rows, float* C, int64_t ldc, const float* A, int64_t a_row,
                        int64_t a_col, const float* panel, int64_t ldp, int64_t K, int64_t cols,
                        float alpha) {
    switch (rows) {
        case 6: block_product<6>(C, ldc, A, a_row, a_col, panel, ldp, K, cols, alpha); break;
        case 5: block_product<5>(C, ldc, A, a_row, a_col, panel, ldp, K, cols, alpha); break;
        case 4: block_product<4>(C, ldc, A, a_row, a_col, panel, ldp, K, cols, alpha); break;
        case 3: block_product<3>(C, ldc, A, a_row, a_col, panel, ldp, K, cols, alpha); break;
        case 2: block_product<2>(C, ldc, A, a_row, a_col, panel, ldp, K, cols, alpha); break;
        default: block_product<1>(C, ldc, A, a_row, a_col, panel, ldp, K, cols, alpha); break;
    }
}

// panel[K, kPanel] = columns 0..cols-1 of B (element (p, j) at B[p * b_row + j * b_col]), the
// remaining columns zero.
void pack_panel(float* panel, const float* B, int64_t b_row, int64_t b_col, int64_t K, int64_t cols) {
    // Whole rows are zeroed first (two vector stores each), then the columns written: faster than
    // zeroing only the padding, a scalar loop of variable length (measured at N = 17).
    for (int64_t p = 0; p < K; p++) {
        float* dst = panel + p * kPanel;
#pragma omp simd
        for (int64_t j = 0; j < kPanel; j++) dst[j] = 0.0f;
    }
    if (b_col == 1) {
        for (int64_t p = 0; p < K; p++) {
            const float* src = B + p * b_row;
            float* dst = panel + p * kPanel;
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) dst[j] = src[j];
        }
    } else {
        for (int64_t j = 0; j < cols; j++) {
            const float* src = B + j * b_col;
            for (int64_t p = 0; p < K; p++) panel[p * kPanel + j] = src[p * b_row];
        }
    }
}

}  // namespace

void small_gemm(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B,
                int64_t b_row, int64_t b_col, int64_t M, int64_t N, int64_t K, float alpha) {
    thread_local std::vector<float> packed;
    if (static_cast<int64_t>(packed.size()) < K * kPanel) {
        packed.resize(static_cast<std::size_t>(K * kPanel));
    }
    for (int64_t j0 = 0; j0 < N; j0 += kPanel) {
        const int64_t cols = N - j0 < kPanel ? N - j0 : kPanel;
        const float* panel = B + j0 * b_col;
        int64_t ldp = b_row;
        if (cols < kPanel || b_col != 1) {
            pack_panel(packed.data(), panel, b_row, b_col, K, cols);
            panel = packed.data();
            ldp = kPanel;
        }
        for (int64_t i0 = 0; i0 < M; i0 += kRows) {
            const int64_t rows = M - i0 < kRows ? M - i0 : kRows;
            block_product_rows(rows, C + i0 * ldc + j0, ldc, A + i0 * a_row, a_row, a_col, panel, ldp,
                               K, cols, alpha);
        }
    }
}

}  // namespace vit::cpu
