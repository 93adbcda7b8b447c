// Matrix products through oneDNN. Linear layers use oneDNN's matmul primitive (its brgemm
// kernels hold their speed at batch 1, where sgemm falls off on shapes like fc2's 197x3072x768),
// with the bias applied inside the product; in bf16 the same primitive runs the CPU's bf16 dot
// products with fp32 accumulation. Primitives are built once per shape and kept. The fp32
// backward products use sgemm; the bf16 weight gradient uses oneDNN's inner-product weight
// gradient (weight_gradient_bf16). The bias gradient is ours: column sums over fixed chunks of
// rows (row_chunks.h), so the result does not depend on the thread count; in bf16 the same pass
// rounds dout. Measurements behind these choices: docs/benchmarks.md.
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "kernels/cpu/row_chunks.h"
#include "kernels/cpu/vec16.h"
#include "kernels/kernels.h"

namespace vit::cpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (M == 0 || N == 0) {
        return;
    }
    dnnl_status_t status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A,
                                      lda, B, ldb, beta, C, ldc);
    if (status != dnnl_success) {
        // Only reachable with inconsistent leading dimensions: a programming error.
        std::fprintf(stderr, "vit: dnnl_sgemm failed with status %d\n", static_cast<int>(status));
        std::abort();
    }
}

namespace {

using dt = dnnl::memory::data_type;

enum class PostOp { None, GeluErf, GeluTanh, Relu };

// A product C[M,N] (=, or += with `accumulate`) A[M,K] B[K,N] (+ bias[N]), then `activation`,
// with an fp32 bias. A and B are fp32 or bf16 and may be transposed views: element (i, j) of A is
// at a_strides[0] * i + a_strides[1] * j. C is fp32 unless c_type says bf16.
struct ProductShape {
    int64_t M = 0, K = 0, N = 0;
    dt type = dt::f32;
    int64_t a_strides[2] = {0, 0};
    int64_t b_strides[2] = {0, 0};
    bool bias = false;
    bool accumulate = false;
    PostOp activation = PostOp::None;
    dt c_type = dt::f32;
    bool b_packed = false;  // B in the blocked layout of packed_weight_desc (b_strides unused)

    auto key() const {
        return std::make_tuple(M, K, N, static_cast<int>(type), a_strides[0], a_strides[1],
                               b_strides[0], b_strides[1], bias, accumulate,
                               static_cast<int>(activation), static_cast<int>(c_type), b_packed);
    }
};

struct ProductPrimitive {
    dnnl::matmul matmul;
    dnnl::memory::desc a, b, bias, c;
};

dnnl::engine& cpu_engine() {
    static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    return engine;
}

// The blocked layout oneDNN's matmul picks for a [K,N] weight of this type when left free to
// choose (format "any"), asked once per (K, N, type). It does not depend on the row count M
// (checked for M = 1..6400 on ViT shapes); products given it read B with no repacking.
const dnnl::memory::desc& packed_weight_desc(int64_t K, int64_t N, dt type) {
    static std::mutex mutex;
    static std::map<std::tuple<int64_t, int64_t, int>, dnnl::memory::desc> cache;
    std::lock_guard lock(mutex);
    auto [it, inserted] = cache.try_emplace({K, N, static_cast<int>(type)});
    if (inserted) {
        constexpr int64_t kRows = 256;
        const dnnl::memory::desc a({kRows, K}, type, dnnl::memory::format_tag::ab);
        const dnnl::memory::desc b({K, N}, type, dnnl::memory::format_tag::any);
        const dnnl::memory::desc c({kRows, N}, dt::f32, dnnl::memory::format_tag::ab);
        it->second = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), cpu_engine()).weights_desc();
    }
    return it->second;
}

const ProductPrimitive& product_primitive(const ProductShape& s) {
    static std::mutex mutex;
    static std::map<decltype(s.key()), ProductPrimitive> cache;  // node-based: references stay valid
    std::lock_guard lock(mutex);
    auto [it, inserted] = cache.try_emplace(s.key());
    if (inserted) {
        ProductPrimitive& p = it->second;
        p.a = dnnl::memory::desc({s.M, s.K}, s.type, {s.a_strides[0], s.a_strides[1]});
        p.b = s.b_packed ? packed_weight_desc(s.K, s.N, s.type)
                         : dnnl::memory::desc({s.K, s.N}, s.type, {s.b_strides[0], s.b_strides[1]});
        p.bias = dnnl::memory::desc({1, s.N}, dt::f32, {s.N, 1});
        p.c = dnnl::memory::desc({s.M, s.N}, s.c_type, {s.N, 1});
        dnnl::post_ops ops;
        if (s.accumulate) {
            ops.append_sum(1.0f);
        }
        if (s.activation != PostOp::None) {
            const dnnl::algorithm algorithm = s.activation == PostOp::GeluErf    ? dnnl::algorithm::eltwise_gelu_erf
                                              : s.activation == PostOp::GeluTanh ? dnnl::algorithm::eltwise_gelu_tanh
                                                                                 : dnnl::algorithm::eltwise_relu;
            ops.append_eltwise(1.0f, algorithm, 0.0f, 0.0f);
        }
        dnnl::primitive_attr attr;
        attr.set_post_ops(ops);
        auto desc = s.bias ? dnnl::matmul::desc(p.a, p.b, p.bias, p.c) : dnnl::matmul::desc(p.a, p.b, p.c);
        p.matmul = dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, cpu_engine()));
    }
    return it->second;
}

// B [K,N] (strides b_strides) copied into the blocked layout of packed_weight_desc, with the
// reorder primitive kept per shape; returns the copy (per-thread scratch, valid until the next
// call on this thread).
const void* pack_operand(const ProductShape& s, const void* b) {
    static std::mutex mutex;
    static std::map<std::tuple<int64_t, int64_t, int, int64_t, int64_t>, dnnl::reorder> cache;
    const dnnl::memory::desc plain({s.K, s.N}, s.type, {s.b_strides[0], s.b_strides[1]});
    const dnnl::memory::desc& blocked = packed_weight_desc(s.K, s.N, s.type);
    dnnl::reorder* reorder = nullptr;
    {
        std::lock_guard lock(mutex);
        auto [it, inserted] = cache.try_emplace({s.K, s.N, static_cast<int>(s.type), s.b_strides[0], s.b_strides[1]});
        if (inserted) it->second = dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), plain, cpu_engine(), blocked));
        reorder = &it->second;
    }
    thread_local std::vector<char> buffer;
    if (buffer.size() < blocked.get_size()) buffer.resize(blocked.get_size());
    dnnl::memory from(plain, cpu_engine(), const_cast<void*>(b)), to(blocked, cpu_engine(), buffer.data());
    dnnl::stream stream(cpu_engine());
    reorder->execute(stream, from, to);
    stream.wait();
    return buffer.data();
}

void product(ProductShape s, void* c, const void* a, const void* b, const float* bias) {
    if (s.M == 0 || s.N == 0) {
        return;
    }
    // A weight beside many rows (training's forward and input-gradient products) is packed first
    // into the blocked layout the product kernels read: one reorder, amortised over the rows.
    if (!s.b_packed && s.M >= 8 * s.K && s.M >= 1024) {
        b = pack_operand(s, b);
        s.b_packed = true;
    }
    const ProductPrimitive& p = product_primitive(s);
    dnnl::engine& engine = cpu_engine();
    dnnl::stream stream(engine);
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, dnnl::memory(p.a, engine, const_cast<void*>(a))},
        {DNNL_ARG_WEIGHTS, dnnl::memory(p.b, engine, const_cast<void*>(b))},
        {DNNL_ARG_DST, dnnl::memory(p.c, engine, c)}};
    if (bias != nullptr) {
        args.emplace(DNNL_ARG_BIAS, dnnl::memory(p.bias, engine, const_cast<float*>(bias)));
    }
    p.matmul.execute(stream, args);
    stream.wait();
}

// out[M,N] = activation(inp[M,K] @ weight[N,K]^T (+ bias)): weight read as a [K,N] view with
// strides (1, K).
// With `packed`, weight is held in the packed layout instead (see pack_weight).
ProductShape linear_shape(int64_t M, int64_t K, int64_t N, dt type, bool bias, bool packed,
                          PostOp activation = PostOp::None, dt c_type = dt::f32, bool accumulate = false) {
    return {.M = M, .K = K, .N = N, .type = type, .a_strides = {K, 1}, .b_strides = {1, K},
            .bias = bias, .accumulate = accumulate, .activation = activation, .c_type = c_type,
            .b_packed = packed};
}

PostOp post_op(Activation a) {
    switch (a) {
        case Activation::GeluErf: return PostOp::GeluErf;
        case Activation::GeluTanh: return PostOp::GeluTanh;
        case Activation::Relu: return PostOp::Relu;
    }
    return PostOp::None;
}

// Over rows [0, rows) of dout (row stride N): g = dout, or dout * slope with kSlope;
// sums[n] = the column sums of g (in row order) and, with kRound, dout_bf16 = g rounded to bf16.
template <bool kSlope, bool kRound>
void chunk_backward(float* sums, bf16* dout_bf16, const float* dout, const float* slope, int64_t rows, int64_t N) {
    auto column_vector = [&](int64_t m, int64_t n, int64_t lanes) {
        f32x16 g = load_first(dout + m * N + n, lanes, 0.0f);
        if constexpr (kSlope) g *= load_first(slope + m * N + n, lanes, 0.0f);
        if constexpr (kRound) store_first_bf16(dout_bf16 + m * N + n, g, lanes);
        store_first(sums + n, m == 0 ? g : load_first(sums + n, lanes, 0.0f) + g, lanes);
    };
    const int64_t full = N / 16 * 16;
    for (int64_t m = 0; m < rows; m++) {
        for (int64_t n = 0; n < full; n += 16) column_vector(m, n, 16);
        if (full < N) column_vector(m, full, N - full);
    }
}

// dbias[n] += sum over rows of g[m, n] and, when dout_bf16 is given, dout_bf16 = g rounded to
// bf16, where g = dout, or dout * slope elementwise: one pass over dout for both.
void bias_backward(float* dbias, bf16* dout_bf16, const float* dout, int64_t M, int64_t N,
                   const float* slope = nullptr) {
    if (dbias == nullptr && slope == nullptr) {
        if (dout_bf16 != nullptr) round_to_bf16(dout_bf16, dout, M * N);
        return;
    }
    // Chunks of rows, each thread streaming through its own (row_chunks.h).
    sum_row_chunks(
        M, N,
        [&](int64_t m0, int64_t rows, float* sums) {
            const float* d = dout + m0 * N;
            const float* g = slope != nullptr ? slope + m0 * N : nullptr;
            bf16* r = dout_bf16 != nullptr ? dout_bf16 + m0 * N : nullptr;
            if (r != nullptr) {
                g != nullptr ? chunk_backward<true, true>(sums, r, d, g, rows, N)
                             : chunk_backward<false, true>(sums, r, d, g, rows, N);
            } else {
                g != nullptr ? chunk_backward<true, false>(sums, r, d, g, rows, N)
                             : chunk_backward<false, false>(sums, r, d, g, rows, N);
            }
        },
        [&](int64_t n, float total) {
            if (dbias != nullptr) dbias[n] += total;
        });
}

// dweight[N,K] += dout^T [N,M] @ inp[M,K] in bf16 with fp32 sums, through oneDNN's inner-product
// weight gradient (its bf16 gemm reads dout^T in place; the matmul primitive over a transposed
// view of dout took 12% longer over a dim-192 training step's weight gradients, 20% on qkv's),
// written to scratch and added.
void weight_gradient_bf16(float* dweight, const bf16* dout, const bf16* inp, int64_t M, int64_t K, int64_t N) {
    using tag = dnnl::memory::format_tag;
    struct Primitive {
        dnnl::inner_product_backward_weights primitive;
        dnnl::memory::desc src, diff_dst, diff_weights;
    };
    static std::mutex mutex;
    static std::map<std::tuple<int64_t, int64_t, int64_t>, Primitive> cache;
    Primitive* p = nullptr;
    {
        std::lock_guard lock(mutex);
        auto [it, inserted] = cache.try_emplace({M, K, N});
        p = &it->second;
        if (inserted) {
            p->src = dnnl::memory::desc({M, K}, dt::bf16, tag::nc);
            p->diff_dst = dnnl::memory::desc({M, N}, dt::bf16, tag::nc);
            p->diff_weights = dnnl::memory::desc({N, K}, dt::f32, tag::oi);
            const auto forward = dnnl::inner_product_forward::primitive_desc(
                dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, p->src,
                                                  dnnl::memory::desc({N, K}, dt::bf16, tag::any), p->diff_dst),
                cpu_engine());
            p->primitive = dnnl::inner_product_backward_weights(dnnl::inner_product_backward_weights::primitive_desc(
                dnnl::inner_product_backward_weights::desc(p->src, p->diff_weights, p->diff_dst), cpu_engine(),
                forward));
        }
    }
    thread_local std::vector<float> gradient;
    if (static_cast<int64_t>(gradient.size()) < N * K) gradient.resize(static_cast<size_t>(N * K));
    dnnl::engine& engine = cpu_engine();
    dnnl::stream stream(engine);
    p->primitive.execute(stream, {{DNNL_ARG_SRC, dnnl::memory(p->src, engine, const_cast<bf16*>(inp))},
                                  {DNNL_ARG_DIFF_DST, dnnl::memory(p->diff_dst, engine, const_cast<bf16*>(dout))},
                                  {DNNL_ARG_DIFF_WEIGHTS, dnnl::memory(p->diff_weights, engine, gradient.data())}});
    stream.wait();
    const float* g = gradient.data();
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < N * K; i++) dweight[i] += g[i];
}

}  // namespace

int64_t packed_weight_bytes(int64_t K, int64_t N, bool bf16) {
    return static_cast<int64_t>(packed_weight_desc(K, N, bf16 ? dt::bf16 : dt::f32).get_size());
}

void pack_weight(void* packed, const void* weight, int64_t K, int64_t N, bool bf16) {
    const dt type = bf16 ? dt::bf16 : dt::f32;
    dnnl::engine& engine = cpu_engine();
    dnnl::memory plain(dnnl::memory::desc({K, N}, type, {1, K}), engine, const_cast<void*>(weight));
    dnnl::memory blocked(packed_weight_desc(K, N, type), engine, packed);
    dnnl::stream stream(engine);
    dnnl::reorder(plain, blocked).execute(stream, plain, blocked);
    stream.wait();
}

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t M,
                    int64_t K, int64_t N, bool packed) {
    product(linear_shape(M, K, N, dt::f32, bias != nullptr, packed), out, inp, weight, bias);
}

void matmul_activation_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t M,
                               int64_t K, int64_t N, Activation activation, bool packed) {
    product(linear_shape(M, K, N, dt::f32, bias != nullptr, packed, post_op(activation)), out, inp, weight, bias);
}

void matmul_accumulate_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t M,
                               int64_t K, int64_t N, bool packed) {
    product(linear_shape(M, K, N, dt::f32, bias != nullptr, packed, PostOp::None, dt::f32, true), out, inp, weight,
            bias);
}

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t M, int64_t K, int64_t N) {
    if (dinp != nullptr) {
        // dinp[M,K] = dout[M,N] @ weight[N,K]
        gemm(false, false, M, K, N, 1.0f, dout, N, weight, K, 0.0f, dinp, K);
    }
    if (dweight != nullptr) {
        // dweight[N,K] += dout[M,N]^T @ inp[M,K]
        gemm(true, false, N, K, M, 1.0f, dout, N, inp, K, 1.0f, dweight, K);
    }
    if (dbias != nullptr) {
        bias_backward(dbias, nullptr, dout, M, N);
    }
}

bool bf16_products_supported() {
    static const bool supported = [] {
        try {
            product_primitive(linear_shape(1, 32, 32, dt::bf16, true, false));
            return true;
        } catch (const dnnl::error&) {
            return false;
        }
    }();
    return supported;
}

void matmul_forward_bf16(float* out, const bf16* inp, const bf16* weight, const float* bias, int64_t M,
                         int64_t K, int64_t N, bool packed) {
    product(linear_shape(M, K, N, dt::bf16, bias != nullptr, packed), out, inp, weight, bias);
}

void matmul_accumulate_forward_bf16(float* out, const bf16* inp, const bf16* weight, const float* bias, int64_t M,
                                    int64_t K, int64_t N, bool packed) {
    product(linear_shape(M, K, N, dt::bf16, bias != nullptr, packed, PostOp::None, dt::f32, true), out, inp, weight,
            bias);
}

void matmul_forward_bf16_out(bf16* out, const bf16* inp, const bf16* weight, const float* bias, int64_t M,
                             int64_t K, int64_t N, bool packed) {
    product(linear_shape(M, K, N, dt::bf16, bias != nullptr, packed, PostOp::None, dt::bf16), out, inp,
            weight, bias);
}

void matmul_activation_forward_bf16(bf16* out, const bf16* inp, const bf16* weight, const float* bias, int64_t M,
                                    int64_t K, int64_t N, Activation activation, bool packed) {
    product(linear_shape(M, K, N, dt::bf16, bias != nullptr, packed, post_op(activation), dt::bf16), out, inp,
            weight, bias);
}

void matmul_backward_bf16(float* dinp, float* dweight, float* dbias, const float* dout, bf16* dout_bf16,
                          const bf16* inp, const bf16* weight, int64_t M, int64_t K, int64_t N,
                          const float* dout_slope) {
    bias_backward(dbias, dout_bf16, dout, M, N, dout_slope);
    matmul_backward_products_bf16(dinp, dweight, dout_bf16, inp, weight, M, K, N);
}

void matmul_backward_products_bf16(float* dinp, float* dweight, const bf16* dout_bf16, const bf16* inp,
                                   const bf16* weight, int64_t M, int64_t K, int64_t N) {
    if (dinp != nullptr) {
        // dinp[M,K] = dout[M,N] @ weight[N,K]
        product({.M = M, .K = N, .N = K, .type = dt::bf16, .a_strides = {N, 1}, .b_strides = {K, 1},
                 .bias = false, .accumulate = false},
                dinp, dout_bf16, weight, nullptr);
    }
    if (dweight != nullptr) {
        weight_gradient_bf16(dweight, dout_bf16, inp, M, K, N);
    }
}

}  // namespace vit::cpu
