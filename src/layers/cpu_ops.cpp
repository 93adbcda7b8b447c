// The CPU backend of Ops, on the kernels of kernels/cpu.
#include "layers/cpu_ops.h"

#include <cstring>

namespace vit::layers {

namespace {

float* f32(Operand x) { return static_cast<float*>(x.data); }
bf16* b16(Operand x) { return static_cast<bf16*>(x.data); }

template <typename T>
T* grown(Buffer<T>& buffer, int64_t n) {
    if (buffer.size() < n) {
        buffer.resize(n);
    }
    return buffer.data();
}

}  // namespace

// ---- common to both precisions ----------------------------------------------------------------

float* CpuOps::scratch(int64_t n) { return grown(scratch_, n); }
bf16* CpuOps::scratch_bf16(int64_t n) { return grown(scratch_bf16_, n); }

int64_t CpuOps::scratch_bytes() const {
    return scratch_.size() * static_cast<int64_t>(sizeof(float)) + scratch_bf16_.size() * static_cast<int64_t>(sizeof(bf16));
}

void CpuOps::norm_f32(float* out, const NormStats& stats, const float* inp, const Norm& n, int64_t rows) {
    cpu::layernorm_forward(out, stats.mean, stats.rstd, inp, n.weight, n.bias, rows, n.dim, n.eps);
}

void CpuOps::norm_backward(float* dx, const float* dout, const NormStats& stats, const float* inp, const Norm& n,
                           int64_t rows) {
    cpu::layernorm_backward(dx, n.dweight, n.dbias, dout, inp, n.weight, stats.mean, stats.rstd, rows, n.dim);
}

void CpuOps::residual(float* out, const float* x, float* branch, const float* scale, const DropoutSite& drop,
                      int64_t B, int64_t n) {
    dropout(branch, drop, B * n);
    cpu::residual_forward(out, x, branch, scale, B, n);
}

const float* CpuOps::residual_branch_gradient(float* buffer, const float* dout, const float* scale,
                                              const DropoutSite& drop, int64_t B, int64_t n) {
    if (scale == nullptr && drop.rate == 0.0f) {
        return dout;
    }
    std::memset(buffer, 0, static_cast<size_t>(B * n) * sizeof(float));
    cpu::residual_backward(nullptr, buffer, dout, scale, B, n);
    dropout(buffer, drop, B * n);
    return buffer;
}

void CpuOps::layer_scale(float* out, const float* inp, const float* gamma, int64_t rows, int64_t dim) {
    cpu::layer_scale_forward(out, inp, gamma, rows, dim);
}

void CpuOps::layer_scale_backward(float* dinp, float* dgamma, const float* dout, const float* inp, const float* gamma,
                                  int64_t rows, int64_t dim) {
    cpu::layer_scale_backward(dinp, dgamma, dout, inp, gamma, rows, dim);
}

void CpuOps::add(float* dx, const float* dy, int64_t n) { cpu::residual_forward(dx, dx, dy, nullptr, 1, n); }

void CpuOps::zero(float* x, int64_t n) { std::memset(x, 0, static_cast<size_t>(n) * sizeof(float)); }

void CpuOps::dropout(float* x, const DropoutSite& drop, int64_t n) {
    if (drop.rate > 0.0f) {
        cpu::dropout_forward(x, x, n, drop.rate, drop.seed, drop.stream, drop.first_index(n));
    }
}

void CpuOps::drop_path_scales(float* scale, const DropoutSite& drop, int64_t B) {
    cpu::drop_path_scales(scale, B, drop.rate, drop.seed, drop.stream, drop.first_index(B));
}

// ---- fp32 ---------------------------------------------------------------------------------------

void CpuF32Ops::to_operand(Operand out, const float* x, int64_t n) {
    std::memcpy(out.data, x, static_cast<size_t>(n) * sizeof(float));
}

void CpuF32Ops::linear(float* out, Operand inp, const Linear& l, int64_t rows) {
    cpu::matmul_forward(out, f32(inp), l.weight, l.bias, rows, l.in, l.out, l.packed);
}

void CpuF32Ops::linear_to_operand(Operand out, Operand inp, const Linear& l, int64_t rows) {
    linear(f32(out), inp, l, rows);
}

void CpuF32Ops::linear_accumulate(float* out, Operand inp, const Linear& l, int64_t rows) {
    cpu::matmul_accumulate_forward(out, f32(inp), l.weight, l.bias, rows, l.in, l.out, l.packed);
}

void CpuF32Ops::linear_activation(Operand out, Operand inp, const Linear& l, cpu::Activation act, int64_t rows) {
    cpu::matmul_activation_forward(f32(out), f32(inp), l.weight, l.bias, rows, l.in, l.out, act, l.packed);
}

void CpuF32Ops::linear_backward(float* din, const float* dout, Operand inp, const Linear& l, int64_t rows) {
    cpu::matmul_backward(din, l.dweight, l.dbias, dout, f32(inp), l.weight, rows, l.in, l.out);
}

void CpuF32Ops::activation(Operand out, float* pre, cpu::Activation act, const DropoutSite& drop, int64_t n) {
    if (act == cpu::Activation::Relu) {
        cpu::relu_forward(f32(out), pre, n);
    } else {
        cpu::gelu_forward(f32(out), pre, pre, n, act == cpu::Activation::GeluTanh);  // the slope over pre
    }
    dropout(f32(out), drop, n);
}

void CpuF32Ops::activation_linear_backward(float* din, const float* dact, const float* saved, cpu::Activation act,
                                           Operand inp, const Linear& l, int64_t rows) {
    float* dpre = scratch(rows * l.out);
    if (act == cpu::Activation::Relu) {
        cpu::relu_backward(dpre, saved, dact, rows * l.out);
    } else {
        cpu::gelu_backward(dpre, saved, dact, rows * l.out);
    }
    linear_backward(din, dpre, inp, l, rows);
}

void CpuF32Ops::attention(Operand out, float* probs, Operand qkv, const AttentionShape& s, const DropoutSite& drop) {
    cpu::attention_forward(f32(out), probs, f32(qkv), s.B, s.N, s.heads, s.head_size, drop.rate, drop.seed,
                           drop.stream, drop.first_index(s.B * s.heads * s.N * s.N));
}

void CpuF32Ops::attention_linear_backward(float* din, const float* datty, Operand qkv, const float* probs,
                                          const AttentionShape& s, const DropoutSite& drop, Operand inp,
                                          const Linear& l, int64_t rows) {
    float* dqkv = scratch(rows * l.out);
    cpu::attention_backward(dqkv, datty, f32(qkv), probs, s.B, s.N, s.heads, s.head_size, drop.rate, drop.seed,
                            drop.stream, drop.first_index(s.B * s.heads * s.N * s.N));
    linear_backward(din, dqkv, inp, l, rows);
}

void CpuF32Ops::norm(Operand out, const NormStats& stats, const float* inp, const Norm& n, int64_t rows) {
    norm_f32(f32(out), stats, inp, n, rows);
}

// ---- mixed precision ------------------------------------------------------------------------------

void CpuBf16Ops::to_operand(Operand out, const float* x, int64_t n) { cpu::round_to_bf16(b16(out), x, n); }

void CpuBf16Ops::linear(float* out, Operand inp, const Linear& l, int64_t rows) {
    cpu::matmul_forward_bf16(out, b16(inp), l.weight_bf16, l.bias, rows, l.in, l.out, l.packed);
}

void CpuBf16Ops::linear_to_operand(Operand out, Operand inp, const Linear& l, int64_t rows) {
    cpu::matmul_forward_bf16_out(b16(out), b16(inp), l.weight_bf16, l.bias, rows, l.in, l.out, l.packed);
}

void CpuBf16Ops::linear_accumulate(float* out, Operand inp, const Linear& l, int64_t rows) {
    cpu::matmul_accumulate_forward_bf16(out, b16(inp), l.weight_bf16, l.bias, rows, l.in, l.out, l.packed);
}

void CpuBf16Ops::linear_activation(Operand out, Operand inp, const Linear& l, cpu::Activation act, int64_t rows) {
    cpu::matmul_activation_forward_bf16(b16(out), b16(inp), l.weight_bf16, l.bias, rows, l.in, l.out, act, l.packed);
}

void CpuBf16Ops::linear_backward(float* din, const float* dout, Operand inp, const Linear& l, int64_t rows) {
    cpu::matmul_backward_bf16(din, l.dweight, l.dbias, dout, scratch_bf16(rows * l.out), b16(inp), l.weight_bf16,
                              rows, l.in, l.out);
}

// GELU without dropout writes its bf16 output directly; otherwise the output goes through fp32
// scratch.
void CpuBf16Ops::activation(Operand out, float* pre, cpu::Activation act, const DropoutSite& drop, int64_t n) {
    if (act != cpu::Activation::Relu && drop.rate == 0.0f) {
        cpu::gelu_forward_bf16(b16(out), pre, pre, n, act == cpu::Activation::GeluTanh);
        return;
    }
    float* value = scratch(n);
    if (act == cpu::Activation::Relu) {
        cpu::relu_forward(value, pre, n);
    } else {
        cpu::gelu_forward(value, pre, pre, n, act == cpu::Activation::GeluTanh);
    }
    dropout(value, drop, n);
    cpu::round_to_bf16(b16(out), value, n);
}

// GELU's slope is applied in the pass that rounds the output gradient to bf16.
void CpuBf16Ops::activation_linear_backward(float* din, const float* dact, const float* saved, cpu::Activation act,
                                            Operand inp, const Linear& l, int64_t rows) {
    bf16* dout_bf16 = scratch_bf16(rows * l.out);
    if (act == cpu::Activation::Relu) {
        float* dpre = scratch(rows * l.out);
        cpu::relu_backward(dpre, saved, dact, rows * l.out);
        cpu::matmul_backward_bf16(din, l.dweight, l.dbias, dpre, dout_bf16, b16(inp), l.weight_bf16, rows, l.in,
                                  l.out);
        return;
    }
    cpu::matmul_backward_bf16(din, l.dweight, l.dbias, dact, dout_bf16, b16(inp), l.weight_bf16, rows, l.in, l.out,
                              saved);
}

void CpuBf16Ops::attention(Operand out, float* probs, Operand qkv, const AttentionShape& s, const DropoutSite& drop) {
    cpu::attention_forward_bf16(b16(out), probs, b16(qkv), s.B, s.N, s.heads, s.head_size, drop.rate, drop.seed,
                                drop.stream, drop.first_index(s.B * s.heads * s.N * s.N));
}

// Attention writes qkv's output gradient in bf16 with its column sums (the bias gradient); the
// two products follow.
void CpuBf16Ops::attention_linear_backward(float* din, const float* datty, Operand qkv, const float* probs,
                                           const AttentionShape& s, const DropoutSite& drop, Operand inp,
                                           const Linear& l, int64_t rows) {
    bf16* dqkv = scratch_bf16(rows * l.out);
    cpu::attention_backward_bf16(dqkv, l.dbias, datty, b16(qkv), probs, s.B, s.N, s.heads, s.head_size, drop.rate,
                                 drop.seed, drop.stream, drop.first_index(s.B * s.heads * s.N * s.N));
    cpu::matmul_backward_products_bf16(din, l.dweight, dqkv, b16(inp), l.weight_bf16, rows, l.in, l.out);
}

void CpuBf16Ops::norm(Operand out, const NormStats& stats, const float* inp, const Norm& n, int64_t rows) {
    cpu::layernorm_forward_bf16(b16(out), stats.mean, stats.rstd, inp, n.weight, n.bias, rows, n.dim, n.eps);
}

std::unique_ptr<CpuOps> make_cpu_ops(Precision precision) {
    if (precision == Precision::BF16) {
        return std::make_unique<CpuBf16Ops>();
    }
    return std::make_unique<CpuF32Ops>();
}

}  // namespace vit::layers
