// Ops: the seam between the layers and a backend. A layer states its math as calls on an Ops;
// the backend decides the element type of the matrices that feed products (Operand) and how each
// product runs. CpuOps (cpu_ops.h) implements it on the CPU kernels in fp32 and in mixed
// precision (bf16 products, fp32 sums); another backend (int8 products, a GPU) implements the same
// calls and leaves the layers as they are.
//
// Gradient rule, as the kernels': parameter gradients are ADDED (+=, they accumulate over
// micro-batches); input gradients are WRITTEN (=), except by norm_backward, whose input is the
// residual stream: it adds into that stream's gradient. A gradient output passed as nullptr is not
// computed.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
#include "vit/bf16.h"
#include "vit/precision.h"

namespace vit::layers {

// A matrix that feeds a product, in the element type its backend chose (fp32, or bf16 in mixed
// precision): written by one op, read by the next, never by the layers themselves.
struct Operand {
    void* data = nullptr;
};

// A Linear's parameters, [out, in] weight as PyTorch's. The backend reads the weight it computes
// with: fp32 `weight`, or `weight_bf16` (the bf16 copy, refreshed by the model) in mixed precision.
struct Linear {
    const float* weight = nullptr;
    const bf16* weight_bf16 = nullptr;
    bool packed = false;  // the weight is in cpu::pack_weight's layout: inference only
    const float* bias = nullptr;  // [out], or nullptr for a Linear without bias
    float* dweight = nullptr;     // gradients: nullptr in a model that does not train
    float* dbias = nullptr;
    int64_t in = 0, out = 0;
};

struct Norm {
    const float* weight = nullptr;  // [dim]
    const float* bias = nullptr;    // [dim]
    float* dweight = nullptr;
    float* dbias = nullptr;
    int64_t dim = 0;
    float eps = 1e-6f;
};

// A LayerNorm's statistics per row, kept for its backward.
struct NormStats {
    float* mean = nullptr;  // [rows]
    float* rstd = nullptr;  // [rows]
};

// Where a pass's random masks come from: the seed of its batch, and the place of the pass's first
// sample in that batch (0 unless the batch is split across processes), so that a sample draws
// the same masks wherever it is computed.
struct MaskKey {
    uint64_t seed = 0;
    int64_t first_sample = 0;
};

// Random-number addressing of one forward pass: dropout site s of layer l draws from stream
// (l << 8 | s) under the key's seed, so the backward pass regenerates each mask. Element i of a
// site's n values over `samples` samples draws at index first_sample * (n / samples) + i.
struct DropoutSite {
    float rate = 0.0f;  // 0: no dropout here
    uint64_t seed = 0;
    uint64_t stream = 0;
    int64_t first_sample = 0;
    int64_t samples = 1;

    DropoutSite() = default;
    DropoutSite(float rate, const MaskKey& key, uint64_t stream, int64_t samples)
        : rate(rate), seed(key.seed), stream(stream), first_sample(key.first_sample), samples(samples) {}
    static uint64_t stream_of(int64_t layer, int site) {
        return (static_cast<uint64_t>(layer) << 8) | static_cast<uint64_t>(site);
    }
    // The index of the first of n values (n a multiple of samples).
    uint64_t first_index(int64_t n) const { return static_cast<uint64_t>(first_sample * (n / samples)); }
};

struct AttentionShape {
    int64_t B = 0, N = 0, heads = 0, head_size = 0;
};

class Ops {
  public:
    virtual ~Ops() = default;
    virtual Precision precision() const = 0;
    // Bytes of one Operand element.
    virtual int64_t operand_bytes() const = 0;

    // ---- products ---------------------------------------------------------------------------
    // out [n] = x as an Operand (a copy in fp32, rounded to bf16 in mixed precision).
    virtual void to_operand(Operand out, const float* x, int64_t n) = 0;
    // out [rows, out] = inp @ W^T + b.
    virtual void linear(float* out, Operand inp, const Linear& l, int64_t rows) = 0;
    // The same with out as the next product's operand.
    virtual void linear_to_operand(Operand out, Operand inp, const Linear& l, int64_t rows) = 0;
    // Inference: out += inp @ W^T + b (a residual connection inside the product).
    virtual void linear_accumulate(float* out, Operand inp, const Linear& l, int64_t rows) = 0;
    // Inference: out = act(inp @ W^T + b) as the next product's operand (nothing kept).
    virtual void linear_activation(Operand out, Operand inp, const Linear& l, cpu::Activation act,
                                   int64_t rows) = 0;
    // din = dout @ W (nullptr: not computed); dW += dout^T inp; db += column sums of dout.
    virtual void linear_backward(float* din, const float* dout, Operand inp, const Linear& l, int64_t rows) = 0;

    // ---- the MLP's activation, training ------------------------------------------------------
    // out = dropout(act(pre)) as fc2's operand; pre [n] then holds what the backward reads
    // (GELU's slope at pre, or for ReLU pre itself, whose sign is ReLU's).
    virtual void activation(Operand out, float* pre, cpu::Activation act, const DropoutSite& drop, int64_t n) = 0;
    // fc1's backward through the activation after it: given dact = d out (after dropout's
    // backward) and `saved`, what activation() left in pre, din = (dact * act'(pre)) @ W, with
    // W's and b's gradients added.
    virtual void activation_linear_backward(float* din, const float* dact, const float* saved, cpu::Activation act,
                                            Operand inp, const Linear& l, int64_t rows) = 0;

    // ---- attention --------------------------------------------------------------------------
    // out [B*N, heads*head_size] = drop(softmax(q k^T / sqrt(head_size))) v from qkv laid out as
    // timm's [B, N, 3, heads, head_size]; probs [B, heads, N, N] kept unless nullptr.
    virtual void attention(Operand out, float* probs, Operand qkv, const AttentionShape& s,
                           const DropoutSite& drop) = 0;
    // The qkv projection's backward through attention: d qkv from datty, then as linear_backward.
    virtual void attention_linear_backward(float* din, const float* datty, Operand qkv, const float* probs,
                                           const AttentionShape& s, const DropoutSite& drop, Operand inp,
                                           const Linear& l, int64_t rows) = 0;

    // ---- normalisation ------------------------------------------------------------------------
    // out [rows, dim] = LayerNorm(inp) as a product's operand; stats kept when given.
    virtual void norm(Operand out, const NormStats& stats, const float* inp, const Norm& n, int64_t rows) = 0;
    // The same in fp32 (a norm whose output is the residual stream or the head's input).
    virtual void norm_f32(float* out, const NormStats& stats, const float* inp, const Norm& n, int64_t rows) = 0;
    // dx += LayerNorm'(dout) (the residual stream's gradient); the norm's parameter gradients added.
    virtual void norm_backward(float* dx, const float* dout, const NormStats& stats, const float* inp,
                               const Norm& n, int64_t rows) = 0;

    // ---- residual branches --------------------------------------------------------------------
    // out[b] = x[b] + scale[b] * dropout(branch[b]) over B samples of n values (scale nullptr:
    // 1; out may alias x); branch is dropped in place.
    virtual void residual(float* out, const float* x, float* branch, const float* scale, const DropoutSite& drop,
                          int64_t B, int64_t n) = 0;
    // The branch's gradient given d out: dout itself when there is neither scale nor dropout,
    // else scale * mask * dout written to buffer.
    virtual const float* residual_branch_gradient(float* buffer, const float* dout, const float* scale,
                                                  const DropoutSite& drop, int64_t B, int64_t n) = 0;
    // LayerScale: out [rows, dim] = inp * gamma per row; its backward writes dinp = dout * gamma
    // (may alias dout) and adds the gradient of gamma into dgamma.
    virtual void layer_scale(float* out, const float* inp, const float* gamma, int64_t rows, int64_t dim) = 0;
    virtual void layer_scale_backward(float* dinp, float* dgamma, const float* dout, const float* inp,
                                      const float* gamma, int64_t rows, int64_t dim) = 0;
    // dx += dy (two paths of the residual stream meet); x = 0.
    virtual void add(float* dx, const float* dy, int64_t n) = 0;
    virtual void zero(float* x, int64_t n) = 0;
    // x = dropout(x) in place; as the mask-and-scale map is its own transpose, also its backward.
    virtual void dropout(float* x, const DropoutSite& drop, int64_t n) = 0;
    // DropPath: scale[b] = keep_b ? 1 / (1 - rate) : 0.
    virtual void drop_path_scales(float* scale, const DropoutSite& drop, int64_t B) = 0;
};

}  // namespace vit::layers
