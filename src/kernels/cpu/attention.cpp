// Multi-head self-attention, one (sample, head) pair per work item. Each item keeps its N x N
// score tile in cache from the q k^T product through the softmax to the product with v, which
// is what makes the pair of products fast here: the scores never travel through memory between
// separate passes. Products inside an item are small_gemm calls: single-threaded inside our
// parallel region, reading q, k, v and their gradients in place through strides.
//
// Per head, with scale = 1/sqrt(HS):
//   forward:  S = q k^T * scale;  P = softmax_rows(S);  Pd = dropout(P);  o = Pd v
//   backward: dv = Pd^T do;  dPd = do v^T;  dP = dropout_backward(dPd);
//             dS = P * (dP - rowsum(dP * P));  dq = scale dS k;  dk = scale dS^T q
#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "kernels/cpu/row_chunks.h"
#include "kernels/cpu/vec16.h"
#include "kernels/kernels.h"
#include "vit/rng.h"

namespace vit::cpu {

namespace {

// Up to this many values past the last full 16 of a row go through the scalar exp: cheaper
// than a whole vector of it (rows of 17 values at patch 7 on 28 x 28).
constexpr int64_t kScalarTail = 3;

// One row of the softmax: C 16-column vector chunks held in registers (the last one masked) and
// the `tail` values after them as scalars; one load and one store per value. C = 0 walks the
// row's chunks in memory instead, for long rows. The chunk loops are unrolled: for C > 0 that
// keeps x in registers (GCC leaves an array it indexes in a loop on the stack).
template <int64_t C>
void softmax_row(float* row, int64_t cols, int64_t tail, bool keep_fp32, bf16* rounded) {
    constexpr float kNegInf = -__builtin_inff();
    constexpr int64_t kChunks = C > 0 ? C : 1;
    const int64_t chunks = C > 0 ? C : (cols - tail + 15) / 16;
    const int64_t vector_cols = cols - tail;
    f32x16 x[kChunks];
    float t[kScalarTail];
    auto chunk = [&](int64_t c) -> f32x16& { return x[C > 0 ? c : 0]; };
    // All chunks but the last are full: for C > 0 the compiler sees it and drops their masks.
    auto width = [&](int64_t c) { return c < chunks - 1 ? int64_t{16} : vector_cols - 16 * c; };
    // The row's maximum and sum run in kChains independent chains of vector operations: one chain
    // through 13 chunks would make the row wait on 13 dependent additions.
    constexpr int64_t kChains = C >= 4 ? 4 : 1;
    auto chain = [](int64_t c) { return kChains > 1 ? c % kChains : 0; };
    f32x16 chunk_max[kChains], chunk_sum[kChains];
    for (int64_t i = 0; i < kChains; i++) {
        chunk_max[i] = splat16(kNegInf);
        chunk_sum[i] = f32x16{};
    }
#pragma GCC unroll 16
    for (int64_t c = 0; c < chunks; c++) {
        const f32x16 s = load_first(row + 16 * c, width(c), kNegInf);
        if (C > 0) chunk(c) = s;
        f32x16& m = chunk_max[chain(c)];
        m = s > m ? s : m;
    }
    for (int64_t i = 1; i < kChains; i++) chunk_max[0] = chunk_max[i] > chunk_max[0] ? chunk_max[i] : chunk_max[0];
    float row_max = reduce_max(chunk_max[0]);
    for (int64_t j = 0; j < tail; j++) row_max = std::max(row_max, row[vector_cols + j]);
#pragma GCC unroll 16
    for (int64_t c = 0; c < chunks; c++) {
        if (C == 0) chunk(c) = load_first(row + 16 * c, width(c), 0.0f);
        chunk(c) = first_lanes(exp_approx(chunk(c) - row_max), width(c));
        chunk_sum[chain(c)] += chunk(c);
        if (C == 0) store_first(row + 16 * c, chunk(c), width(c));
    }
    for (int64_t i = 1; i < kChains; i++) chunk_sum[0] += chunk_sum[i];
    float sum = reduce_add(chunk_sum[0]);
    for (int64_t j = 0; j < tail; j++) {
        t[j] = exp_approx(row[vector_cols + j] - row_max);
        sum += t[j];
    }
    const float inv = 1.0f / sum;
#pragma GCC unroll 16
    for (int64_t c = 0; c < chunks; c++) {
        if (C == 0) chunk(c) = load_first(row + 16 * c, width(c), 0.0f);
        const f32x16 prob = chunk(c) * inv;
        if (keep_fp32) store_first(row + 16 * c, prob, width(c));
        if (rounded != nullptr) store_first_bf16_ftz(rounded + 16 * c, prob, width(c));
    }
    for (int64_t j = 0; j < tail; j++) {
        const float prob = t[j] * inv;
        if (keep_fp32) row[vector_cols + j] = prob;
        if (rounded != nullptr) rounded[vector_cols + j] = to_bf16(prob);
    }
}

// Rows of up to this many 16-column chunks are held in registers (256 values: N = 197 at patch
// 16 and 257 at patch 14 on 224 x 224, whose 17th value is a scalar tail).
constexpr int64_t kRegisterChunks = 16;

// softmax_row<C> for the row's chunk count C when 1 <= C <= kRegisterChunks, else softmax_row<0>.
template <int64_t... C>
void softmax_row_dispatch(std::integer_sequence<int64_t, C...>, int64_t chunks, float* row, int64_t cols,
                          int64_t tail, bool keep_fp32, bf16* rounded) {
    const bool in_registers =
        ((chunks == C + 1 ? (softmax_row<C + 1>(row, cols, tail, keep_fp32, rounded), true) : false) || ...);
    if (!in_registers) {  // the row holds the exponentials in between: always written
        softmax_row<0>(row, cols, tail, true, rounded);
    }
}

// p = softmax of each row of p [rows, cols]; with `rounded`, its bf16 copy [rows, cols] too.
// keep_fp32 = false (with `rounded`) leaves p undefined, for callers that only read the copy.
void softmax_rows(float* p, int64_t rows, int64_t cols, bf16* rounded, bool keep_fp32 = true) {
    const int64_t tail = cols % 16 <= kScalarTail && cols > 16 ? cols % 16 : 0;
    const int64_t chunks = (cols - tail + 15) / 16;
    for (int64_t i = 0; i < rows; i++) {
        softmax_row_dispatch(std::make_integer_sequence<int64_t, kRegisterChunks>{}, chunks, p + i * cols, cols,
                             tail, keep_fp32, rounded != nullptr ? rounded + i * cols : nullptr);
    }
}

// The softmax's backward over an N x N tile, times `scale`, row by row:
// dS = P * (d - rowsum(d * P)) * scale, written over d, or with `rounded` only rounded to bf16
// there (d is left as it was).
void softmax_backward_rows(float* d, const float* p, int64_t N, float scale, bf16* rounded) {
    for (int64_t i = 0; i < N; i++) {
        const float* p_row = p + i * N;
        float* d_row = d + i * N;
        f32x16 chunk_dot = {};
        for (int64_t j = 0; j < N; j += 16) {
            const int64_t n = std::min<int64_t>(16, N - j);
            chunk_dot += load_first(d_row + j, n, 0.0f) * load_first(p_row + j, n, 0.0f);
        }
        const float dot = reduce_add(chunk_dot);
        for (int64_t j = 0; j < N; j += 16) {
            const int64_t n = std::min<int64_t>(16, N - j);
            const f32x16 ds = load_first(p_row + j, n, 0.0f) * (load_first(d_row + j, n, 0.0f) - dot) * scale;
            if (rounded != nullptr) {
                store_first_bf16(rounded + i * N + j, ds, n);
            } else {
                store_first(d_row + j, ds, n);
            }
        }
    }
}

// dst = src * keep / (1 - p) for the attention-dropout mask of one (sample, head) tile.
void apply_dropout_mask(float* dst, const float* src, int64_t n, float p, uint64_t seed,
                        uint64_t stream, uint64_t first_index) {
    float keep_scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++) {
        bool keep = uniform01(seed, stream, first_index + static_cast<uint64_t>(i)) >= p;
        dst[i] = keep ? src[i] * keep_scale : 0.0f;
    }
}

// Per-thread scratch tiles, grown on demand and reused across calls.
template <typename T>
T* scratch(std::vector<T>& buffer, int64_t n) {
    if (static_cast<int64_t>(buffer.size()) < n) {
        buffer.resize(static_cast<std::size_t>(n));
    }
    return buffer.data();
}

// Pd of work item bh: its probabilities p themselves, or with the attention-dropout mask applied
// in the scratch tile.
const float* dropped_probs(std::vector<float>& tile, const float* p, int64_t N, float attn_drop, uint64_t seed,
                           uint64_t stream, uint64_t tile_index) {
    if (!(attn_drop > 0.0f)) {
        return p;
    }
    float* dropped = scratch(tile, N * N);
    apply_dropout_mask(dropped, p, N * N, attn_drop, seed, stream, tile_index);
    return dropped;
}

void round_to_bf16_serial(bf16* out, const float* inp, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = to_bf16(inp[i]);
}

// out = inp rounded to bf16, denormals flushed (store_first_bf16_ftz)
void round_to_bf16_ftz(bf16* out, const float* inp, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const int64_t lanes = std::min<int64_t>(16, n - i);
        store_first_bf16_ftz(out + i, load_first(inp + i, lanes, 0.0f), lanes);
    }
}

// out[i * out_row + j] = tile[i, j] rounded to bf16 (nearest, ties to even, as to_bf16) for the
// rows of a [rows, cols] tile, and with sums != nullptr sums[j] = the sum of column j in row order.
void write_rounded_tile(bf16* out, int64_t out_row, float* sums, const float* tile, int64_t rows, int64_t cols) {
    for (int64_t j = 0; j < cols; j += 16) {
        const int64_t lanes = std::min<int64_t>(16, cols - j);
        f32x16 sum = {};
        for (int64_t i = 0; i < rows; i++) {
            const f32x16 x = load_first(tile + i * cols + j, lanes, 0.0f);
            sum = i == 0 ? x : sum + x;
            store_first_bf16(out + i * out_row + j, x, lanes);
        }
        if (sums != nullptr) store_first(sums + j, sum, lanes);
    }
}

// C[M, N] = X^T Y, row stride c_row: X [K, M] given as pair panels x (its transpose is read
// kPairPanel rows at a time), Y [K, N] as pair panels y.
void transpose_product(float* C, int64_t c_row, const bf16* x, const bf16* y, int64_t M, int64_t N, int64_t K) {
    for (int64_t i0 = 0; i0 < M; i0 += kPairPanel) {
        small_gemm_bf16(C + i0 * c_row, c_row, 1, x + i0 / kPairPanel * pair_panel_size(K, kPairPanel), 2,
                        2 * kPairPanel, y, std::min(kPairPanel, M - i0), N, K, 1.0f);
    }
}

}  // namespace

void attention_forward(float* out, float* probs, const float* qkv, int64_t B, int64_t N, int64_t NH,
                       int64_t HS, float attn_drop, uint64_t seed, uint64_t stream, uint64_t first_index) {
    const int64_t I = NH * HS;    // inner width of q, k, v and of out
    const int64_t row = 3 * I;    // row stride of qkv
    const float scale = 1.0f / __builtin_sqrtf(static_cast<float>(HS));
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < B * NH; bh++) {
        thread_local std::vector<float> dropped_buffer, probs_buffer;
        const int64_t b = bh / NH;
        const int64_t h = bh % NH;
        const float* q = qkv + b * N * row + h * HS;
        const float* k = q + I;
        const float* v = q + 2 * I;
        float* p = probs != nullptr ? probs + bh * N * N : scratch(probs_buffer, N * N);
        small_gemm(p, N, q, row, 1, k, 1, row, N, N, HS, scale);  // S = q k^T * scale
        softmax_rows(p, N, N, nullptr);
        const float* pd = dropped_probs(dropped_buffer, p, N, attn_drop, seed, stream, first_index + static_cast<uint64_t>(bh * N * N));
        small_gemm(out + b * N * I + h * HS, I, pd, N, 1, v, row, 1, N, HS, N, 1.0f);  // o = Pd v
    }
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* probs,
                        int64_t B, int64_t N, int64_t NH, int64_t HS, float attn_drop,
                        uint64_t seed, uint64_t stream, uint64_t first_index) {
    const int64_t I = NH * HS;
    const int64_t row = 3 * I;
    const float scale = 1.0f / __builtin_sqrtf(static_cast<float>(HS));
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < B * NH; bh++) {
        thread_local std::vector<float> dp_buffer;
        thread_local std::vector<float> dropped_buffer;
        const int64_t b = bh / NH;
        const int64_t h = bh % NH;
        const float* q = qkv + b * N * row + h * HS;
        const float* k = q + I;
        const float* v = q + 2 * I;
        float* dq = dqkv + b * N * row + h * HS;
        float* dk = dq + I;
        float* dv = dq + 2 * I;
        const float* d_o = dout + b * N * I + h * HS;
        const float* p = probs + bh * N * N;
        float* dp = scratch(dp_buffer, N * N);

        const float* pd = dropped_probs(dropped_buffer, p, N, attn_drop, seed, stream, first_index + static_cast<uint64_t>(bh * N * N));
        // forward: o = Pd v   =>   dv = Pd^T do,  dPd = do v^T
        small_gemm(dv, row, pd, 1, N, d_o, I, 1, N, HS, N, 1.0f);
        small_gemm(dp, N, d_o, I, 1, v, 1, row, N, N, HS, 1.0f);
        if (attn_drop > 0.0f) {
            apply_dropout_mask(dp, dp, N * N, attn_drop, seed, stream,
                               first_index + static_cast<uint64_t>(bh * N * N));
        }
        // forward: P = softmax(S)   =>   dS = P * (dP - rowsum(dP * P)), written over dp
        softmax_backward_rows(dp, p, N, 1.0f, nullptr);
        // forward: S = q k^T * scale   =>   dq = scale dS k,  dk = scale dS^T q
        small_gemm(dq, row, dp, N, 1, k, row, 1, N, HS, N, scale);
        small_gemm(dk, row, dp, 1, N, q, row, 1, N, HS, N, scale);
    }
}

// Mixed precision. Each product's B operand is packed into pair panels; its A operand is read in
// place along p (q, the rounded probabilities and score gradients) or as the rows of a pair panel:
// the products whose A is an N x N tile transposed (dv = Pd^T do, dk = dS^T q) read it from the
// panels of Pd and dS, which hold the pairs of their transposes. (Computing dv^T = do^T Pd instead
// pads its N columns to whole panels and stores through strides: the backward took 20% longer
// at N = 50.)
void attention_forward_bf16(bf16* out, float* probs, const bf16* qkv, int64_t B, int64_t N, int64_t NH,
                            int64_t HS, float attn_drop, uint64_t seed, uint64_t stream, uint64_t first_index) {
    const int64_t I = NH * HS;
    const int64_t row = 3 * I;
    const float scale = 1.0f / __builtin_sqrtf(static_cast<float>(HS));
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < B * NH; bh++) {
        thread_local std::vector<bf16> panel_buffer, pd_buffer;
        thread_local std::vector<float> dropped_buffer, out_buffer, probs_buffer;
        const int64_t b = bh / NH;
        const int64_t h = bh % NH;
        const bf16* q = qkv + b * N * row + h * HS;
        const bf16* k = q + I;
        const bf16* v = q + 2 * I;
        float* p = probs != nullptr ? probs + bh * N * N : scratch(probs_buffer, N * N);
        bf16* panels = scratch(panel_buffer, std::max(pair_panel_size(HS, N), pair_panel_size(N, HS)));
        pack_pair_panels(panels, k, 1, row, HS, N);                   // k^T
        small_gemm_bf16(p, N, 1, q, row, 2, panels, N, N, HS, scale);    // S = q k^T * scale
        bf16* pd_bf16 = scratch(pd_buffer, N * N);
        if (attn_drop > 0.0f) {
            softmax_rows(p, N, N, nullptr);
            round_to_bf16_serial(pd_bf16, dropped_probs(dropped_buffer, p, N, attn_drop, seed, stream, first_index + static_cast<uint64_t>(bh * N * N)), N * N);
        } else {
            softmax_rows(p, N, N, pd_bf16, probs != nullptr);
        }
        pack_pair_panels(panels, v, row, 1, N, HS);
        float* o = scratch(out_buffer, N * HS);
        small_gemm_bf16(o, HS, 1, pd_bf16, N, 2, panels, N, HS, N, 1.0f);  // o = Pd v
        for (int64_t i = 0; i < N; i++) {
            round_to_bf16_ftz(out + (b * N + i) * I + h * HS, o + i * HS, HS);
        }
    }
}

void attention_backward_bf16(bf16* dqkv, float* dqkv_column_sums, const float* dout, const bf16* qkv,
                             const float* probs, int64_t B, int64_t N, int64_t NH, int64_t HS, float attn_drop,
                             uint64_t seed, uint64_t stream, uint64_t first_index) {
    const int64_t I = NH * HS;
    const int64_t row = 3 * I;
    const float scale = 1.0f / __builtin_sqrtf(static_cast<float>(HS));
    // Column sums per sample: each work item writes its head's 3 * HS of them, and the samples
    // are added in order after the loop, so the result does not depend on the thread count.
    thread_local std::vector<float> sample_sums_buffer;
    float* sample_sums = dqkv_column_sums != nullptr ? scratch(sample_sums_buffer, B * row) : nullptr;
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < B * NH; bh++) {
        thread_local std::vector<bf16> panel_buffer, x_t_buffer, do_buffer, ds_buffer;
        thread_local std::vector<float> dp_buffer, dropped_buffer, tile_buffer;
        const int64_t b = bh / NH;
        const int64_t h = bh % NH;
        const bf16* q = qkv + b * N * row + h * HS;
        const bf16* k = q + I;
        const bf16* v = q + 2 * I;
        const float* d_o = dout + b * N * I + h * HS;
        const float* p = probs + bh * N * N;
        float* dp = scratch(dp_buffer, N * N);
        bf16* panels = scratch(panel_buffer, std::max({pair_panel_size(N, N), pair_panel_size(HS, N),
                                                       pair_panel_size(N, HS)}));
        bf16* x_t = scratch(x_t_buffer, pair_panel_size(N, HS));  // do, then q, as pair panels
        bf16* do_bf16 = scratch(do_buffer, N * HS);
        for (int64_t i = 0; i < N; i++) {
            round_to_bf16_serial(do_bf16 + i * HS, d_o + i * I, HS);
        }
        // Each gradient of q, k or v goes through an fp32 tile [N, HS], which is rounded into
        // dqkv (column `part` * I + h * HS on) with its column sums taken on the way.
        float* tile = scratch(tile_buffer, N * HS);
        auto emit = [&](int64_t part) {
            const int64_t column = part * I + h * HS;
            write_rounded_tile(dqkv + b * N * row + column, row, sample_sums != nullptr ? sample_sums + b * row + column : nullptr,
                               tile, N, HS);
        };

        const float* pd = dropped_probs(dropped_buffer, p, N, attn_drop, seed, stream, first_index + static_cast<uint64_t>(bh * N * N));
        // forward: o = Pd v   =>   dv = Pd^T do,  dPd = do v^T
        pack_pair_panels(x_t, do_bf16, HS, 1, N, HS);
        pack_pair_panels(panels, pd, N, 1, N, N);
        transpose_product(tile, HS, panels, x_t, N, HS, N);
        emit(2);
        pack_pair_panels(panels, v, 1, row, HS, N);  // v^T
        small_gemm_bf16(dp, N, 1, do_bf16, HS, 2, panels, N, N, HS, 1.0f);
        if (attn_drop > 0.0f) {
            apply_dropout_mask(dp, dp, N * N, attn_drop, seed, stream,
                               first_index + static_cast<uint64_t>(bh * N * N));
        }
        // forward: P = softmax(S), S = (q k^T) * scale   =>   dp = scale * P * (dP - rowsum(dP * P))
        bf16* ds_bf16 = scratch(ds_buffer, N * N);
        softmax_backward_rows(dp, p, N, scale, ds_bf16);
        // dq = dS k,  dk = dS^T q
        pack_pair_panels(panels, k, row, 1, N, HS);
        small_gemm_bf16(tile, HS, 1, ds_bf16, N, 2, panels, N, HS, N, 1.0f);
        emit(0);
        pack_pair_panels(x_t, q, row, 1, N, HS);
        pack_pair_panels(panels, ds_bf16, N, 1, N, N);
        transpose_product(tile, HS, panels, x_t, N, HS, N);
        emit(1);
    }
    if (dqkv_column_sums != nullptr) {
#pragma omp parallel
        add_chunk_sums(sample_sums, B, row, [&](int64_t j, float total) { dqkv_column_sums[j] += total; });
    }
}

}  // namespace vit::cpu
