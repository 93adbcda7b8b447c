// The CPU backend of Ops: fp32 (CpuF32Ops) and mixed precision (CpuBf16Ops: operands in bf16,
// products on the CPU's bf16 dot products with fp32 sums), on the kernels of kernels/cpu.
#pragma once

#include <memory>

#include "layers/ops.h"
#include "vit/buffer.h"

namespace vit::layers {

// The ops that do not depend on the operands' element type: norms in fp32, residual branches,
// dropout. Scratch buffers grow to the largest size asked for and are reused.
class CpuOps : public Ops {
  public:
    void norm_f32(float* out, const NormStats& stats, const float* inp, const Norm& n, int64_t rows) override;
    void norm_backward(float* dx, const float* dout, const NormStats& stats, const float* inp, const Norm& n,
                       int64_t rows) override;
    void residual(float* out, const float* x, float* branch, const float* scale, const DropoutSite& drop, int64_t B,
                  int64_t n) override;
    const float* residual_branch_gradient(float* buffer, const float* dout, const float* scale,
                                          const DropoutSite& drop, int64_t B, int64_t n) override;
    void layer_scale(float* out, const float* inp, const float* gamma, int64_t rows, int64_t dim) override;
    void layer_scale_backward(float* dinp, float* dgamma, const float* dout, const float* inp, const float* gamma,
                              int64_t rows, int64_t dim) override;
    void add(float* dx, const float* dy, int64_t n) override;
    void zero(float* x, int64_t n) override;
    void dropout(float* x, const DropoutSite& drop, int64_t n) override;
    void drop_path_scales(float* scale, const DropoutSite& drop, int64_t B) override;
    // Bytes held in scratch buffers.
    int64_t scratch_bytes() const;

  protected:
    float* scratch(int64_t n);       // [n] fp32, contents undefined
    bf16* scratch_bf16(int64_t n);   // [n] bf16, contents undefined

  private:
    FloatBuffer scratch_;
    Bf16Buffer scratch_bf16_;
};

class CpuF32Ops final : public CpuOps {
  public:
    Precision precision() const override { return Precision::F32; }
    int64_t operand_bytes() const override { return sizeof(float); }
    void to_operand(Operand out, const float* x, int64_t n) override;
    void linear(float* out, Operand inp, const Linear& l, int64_t rows) override;
    void linear_to_operand(Operand out, Operand inp, const Linear& l, int64_t rows) override;
    void linear_accumulate(float* out, Operand inp, const Linear& l, int64_t rows) override;
    void linear_activation(Operand out, Operand inp, const Linear& l, cpu::Activation act, int64_t rows) override;
    void linear_backward(float* din, const float* dout, Operand inp, const Linear& l, int64_t rows) override;
    void activation(Operand out, float* pre, cpu::Activation act, const DropoutSite& drop, int64_t n) override;
    void activation_linear_backward(float* din, const float* dact, const float* saved, cpu::Activation act,
                                    Operand inp, const Linear& l, int64_t rows) override;
    void attention(Operand out, float* probs, Operand qkv, const AttentionShape& s, const DropoutSite& drop) override;
    void attention_linear_backward(float* din, const float* datty, Operand qkv, const float* probs,
                                   const AttentionShape& s, const DropoutSite& drop, Operand inp, const Linear& l,
                                   int64_t rows) override;
    void norm(Operand out, const NormStats& stats, const float* inp, const Norm& n, int64_t rows) override;
};

class CpuBf16Ops final : public CpuOps {
  public:
    Precision precision() const override { return Precision::BF16; }
    int64_t operand_bytes() const override { return sizeof(bf16); }
    void to_operand(Operand out, const float* x, int64_t n) override;
    void linear(float* out, Operand inp, const Linear& l, int64_t rows) override;
    void linear_to_operand(Operand out, Operand inp, const Linear& l, int64_t rows) override;
    void linear_accumulate(float* out, Operand inp, const Linear& l, int64_t rows) override;
    void linear_activation(Operand out, Operand inp, const Linear& l, cpu::Activation act, int64_t rows) override;
    void linear_backward(float* din, const float* dout, Operand inp, const Linear& l, int64_t rows) override;
    void activation(Operand out, float* pre, cpu::Activation act, const DropoutSite& drop, int64_t n) override;
    void activation_linear_backward(float* din, const float* dact, const float* saved, cpu::Activation act,
                                    Operand inp, const Linear& l, int64_t rows) override;
    void attention(Operand out, float* probs, Operand qkv, const AttentionShape& s, const DropoutSite& drop) override;
    void attention_linear_backward(float* din, const float* datty, Operand qkv, const float* probs,
                                   const AttentionShape& s, const DropoutSite& drop, Operand inp, const Linear& l,
                                   int64_t rows) override;
    void norm(Operand out, const NormStats& stats, const float* inp, const Norm& n, int64_t rows) override;
};

std::unique_ptr<CpuOps> make_cpu_ops(Precision precision);

}  // namespace vit::layers
