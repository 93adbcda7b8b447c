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
#include <vector>

#include "kernels/cpu/vector_math.h"
#include "kernels/kernels.h"
#include "vit/rng.h"

namespace vit::cpu {

namespace {

void softmax_rows(float* p, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows; i++) {
        float* row = p + i * cols;
        float row_max = row[0];
#pragma omp simd reduction(max : row_max)
        for (int64_t j = 1; j < cols; j++) {
            row_max = row[j] > row_max ? row[j] : row_max;
        }
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < cols; j++) {
            row[j] = exp_approx(row[j] - row_max);
            sum += row[j];
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) {
            row[j] *= inv;
        }
    }
}

// The softmax's backward over an N x N tile, times `scale`, written over d: row by row,
// d = P * (d - rowsum(d * P)) * scale.
void softmax_backward_rows(float* d, const float* p, int64_t N, float scale) {
    for (int64_t i = 0; i < N; i++) {
        const float* p_row = p + i * N;
        float* d_row = d + i * N;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < N; j++) {
            dot += d_row[j] * p_row[j];
        }
#pragma omp simd
        for (int64_t j = 0; j < N; j++) {
            d_row[j] = p_row[j] * (d_row[j] - dot) * scale;
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
                           uint64_t stream, int64_t bh) {
    if (!(attn_drop > 0.0f)) {
        return p;
    }
    float* dropped = scratch(tile, N * N);
    apply_dropout_mask(dropped, p, N * N, attn_drop, seed, stream, static_cast<uint64_t>(bh * N * N));
    return dropped;
}

void round_to_bf16_serial(bf16* out, const float* inp, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = to_bf16(inp[i]);
}

// C^T = X^T Y stored through C's rows of stride c_row: X [K, HS] given as pair panels x_t (the
// transpose read kPairPanel rows at a time), Y [K, N] as pair panels y.
void transposed_product(float* C, int64_t c_row, const bf16* x_t, const bf16* y, int64_t HS, int64_t N,
                        int64_t K) {
    for (int64_t d0 = 0; d0 < HS; d0 += kPairPanel) {
        small_gemm_bf16(C + d0, 1, c_row, x_t + d0 / kPairPanel * pair_panel_size(K, kPairPanel), 2,
                        2 * kPairPanel, y, std::min(kPairPanel, HS - d0), N, K, 1.0f);
    }
}

}  // namespace

void attention_forward(float* out, float* probs, const float* qkv, int64_t B, int64_t N, int64_t NH,
                       int64_t HS, float attn_drop, uint64_t seed, uint64_t stream) {
    const int64_t I = NH * HS;    // inner width of q, k, v and of out
    const int64_t row = 3 * I;    // row stride of qkv
    const float scale = 1.0f / __builtin_sqrtf(static_cast<float>(HS));
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < B * NH; bh++) {
        thread_local std::vector<float> dropped_buffer;
        const int64_t b = bh / NH;
        const int64_t h = bh % NH;
        const float* q = qkv + b * N * row + h * HS;
        const float* k = q + I;
        const float* v = q + 2 * I;
        float* p = probs + bh * N * N;
        small_gemm(p, N, q, row, 1, k, 1, row, N, N, HS, scale);  // S = q k^T * scale
        softmax_rows(p, N, N);
        const float* pd = dropped_probs(dropped_buffer, p, N, attn_drop, seed, stream, bh);
        small_gemm(out + b * N * I + h * HS, I, pd, N, 1, v, row, 1, N, HS, N, 1.0f);  // o = Pd v
    }
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* probs,
                        int64_t B, int64_t N, int64_t NH, int64_t HS, float attn_drop,
                        uint64_t seed, uint64_t stream) {
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

        const float* pd = dropped_probs(dropped_buffer, p, N, attn_drop, seed, stream, bh);
        // forward: o = Pd v   =>   dv = Pd^T do,  dPd = do v^T
        small_gemm(dv, row, pd, 1, N, d_o, I, 1, N, HS, N, 1.0f);
        small_gemm(dp, N, d_o, I, 1, v, 1, row, N, N, HS, 1.0f);
        if (attn_drop > 0.0f) {
            apply_dropout_mask(dp, dp, N * N, attn_drop, seed, stream,
                               static_cast<uint64_t>(bh * N * N));
        }
        // forward: P = softmax(S)   =>   dS = P * (dP - rowsum(dP * P)), written over dp
        softmax_backward_rows(dp, p, N, 1.0f);
        // forward: S = q k^T * scale   =>   dq = scale dS k,  dk = scale dS^T q
        small_gemm(dq, row, dp, N, 1, k, row, 1, N, HS, N, scale);
        small_gemm(dk, row, dp, 1, N, q, row, 1, N, HS, N, scale);
    }
}

// Mixed precision. Each product's B operand is packed into pair panels; its A operand is read in
// place along p (q, the rounded probabilities and score gradients) or as the rows of a pair panel
// (q^T and do^T: packing q or do gives their transposes' pairs). The products whose natural A is
// an N x N tile transposed (dv = Pd^T do, dk = dS^T q) are computed transposed instead
// (dv^T = do^T Pd, dk^T = q^T dS) and stored through strides, so no N x N tile is transposed.
void attention_forward_bf16(bf16* out, float* probs, const bf16* qkv, int64_t B, int64_t N, int64_t NH,
                            int64_t HS, float attn_drop, uint64_t seed, uint64_t stream) {
    const int64_t I = NH * HS;
    const int64_t row = 3 * I;
    const float scale = 1.0f / __builtin_sqrtf(static_cast<float>(HS));
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < B * NH; bh++) {
        thread_local std::vector<bf16> panel_buffer, pd_buffer;
        thread_local std::vector<float> dropped_buffer, out_buffer;
        const int64_t b = bh / NH;
        const int64_t h = bh % NH;
        const bf16* q = qkv + b * N * row + h * HS;
        const bf16* k = q + I;
        const bf16* v = q + 2 * I;
        float* p = probs + bh * N * N;
        bf16* panels = scratch(panel_buffer, std::max(pair_panel_size(HS, N), pair_panel_size(N, HS)));
        pack_pair_panels(panels, k, 1, row, HS, N);                   // k^T
        small_gemm_bf16(p, N, 1, q, row, 2, panels, N, N, HS, scale);    // S = q k^T * scale
        softmax_rows(p, N, N);
        const float* pd = dropped_probs(dropped_buffer, p, N, attn_drop, seed, stream, bh);
        bf16* pd_bf16 = scratch(pd_buffer, N * N);
        round_to_bf16_serial(pd_bf16, pd, N * N);
        pack_pair_panels(panels, v, row, 1, N, HS);
        float* o = scratch(out_buffer, N * HS);
        small_gemm_bf16(o, HS, 1, pd_bf16, N, 2, panels, N, HS, N, 1.0f);  // o = Pd v
        for (int64_t i = 0; i < N; i++) {
            round_to_bf16_serial(out + (b * N + i) * I + h * HS, o + i * HS, HS);
        }
    }
}

void attention_backward_bf16(float* dqkv, const float* dout, const bf16* qkv, const float* probs,
                             int64_t B, int64_t N, int64_t NH, int64_t HS, float attn_drop,
                             uint64_t seed, uint64_t stream) {
    const int64_t I = NH * HS;
    const int64_t row = 3 * I;
    const float scale = 1.0f / __builtin_sqrtf(static_cast<float>(HS));
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < B * NH; bh++) {
        thread_local std::vector<bf16> panel_buffer, x_t_buffer, do_buffer, ds_buffer;
        thread_local std::vector<float> dp_buffer, dropped_buffer;
        const int64_t b = bh / NH;
        const int64_t h = bh % NH;
        const bf16* q = qkv + b * N * row + h * HS;
        const bf16* k = q + I;
        const bf16* v = q + 2 * I;
        float* dq = dqkv + b * N * row + h * HS;
        float* dk = dq + I;
        float* dv = dq + 2 * I;
        const float* d_o = dout + b * N * I + h * HS;
        const float* p = probs + bh * N * N;
        float* dp = scratch(dp_buffer, N * N);
        bf16* panels = scratch(panel_buffer, std::max({pair_panel_size(N, N), pair_panel_size(HS, N),
                                                       pair_panel_size(N, HS)}));
        bf16* x_t = scratch(x_t_buffer, pair_panel_size(N, HS));  // do^T, then q^T, as pair panels
        bf16* do_bf16 = scratch(do_buffer, N * HS);
        for (int64_t i = 0; i < N; i++) {
            round_to_bf16_serial(do_bf16 + i * HS, d_o + i * I, HS);
        }

        const float* pd = dropped_probs(dropped_buffer, p, N, attn_drop, seed, stream, bh);
        // forward: o = Pd v   =>   dv^T = do^T Pd (stored into dv transposed),  dPd = do v^T
        pack_pair_panels(x_t, do_bf16, HS, 1, N, HS);
        pack_pair_panels(panels, pd, N, 1, N, N);
        transposed_product(dv, row, x_t, panels, HS, N, N);
        pack_pair_panels(panels, v, 1, row, HS, N);  // v^T
        small_gemm_bf16(dp, N, 1, do_bf16, HS, 2, panels, N, N, HS, 1.0f);
        if (attn_drop > 0.0f) {
            apply_dropout_mask(dp, dp, N * N, attn_drop, seed, stream,
                               static_cast<uint64_t>(bh * N * N));
        }
        // forward: P = softmax(S), S = (q k^T) * scale   =>   dp = scale * P * (dP - rowsum(dP * P))
        softmax_backward_rows(dp, p, N, scale);
        bf16* ds_bf16 = scratch(ds_buffer, N * N);
        round_to_bf16_serial(ds_bf16, dp, N * N);
        // dq = dS k,  dk^T = q^T dS (stored into dk transposed)
        pack_pair_panels(panels, k, row, 1, N, HS);
        small_gemm_bf16(dq, row, 1, ds_bf16, N, 2, panels, N, HS, N, 1.0f);
        pack_pair_panels(x_t, q, row, 1, N, HS);
        pack_pair_panels(panels, ds_bf16, N, 1, N, N);
        transposed_product(dk, row, x_t, panels, HS, N, N);
    }
}

}  // namespace vit::cpu
