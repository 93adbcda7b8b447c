// The Transformer encoder block, pre-norm (timm, the paper) or post-norm (PyTorch's
// nn.TransformerEncoderLayer), composed of the same two residual branches.
// ref: timm vision_transformer.py Block.forward:
//   x = x + drop_path1(ls1(attn(norm1(x))))
//   x = x + drop_path2(ls2(mlp(norm2(x))))
// with Attention = proj(softmax(q k^T * scale) v) and Mlp = fc2(drop(act(fc1(x)))); and torch
// nn.TransformerEncoderLayer._sa_block / _ff_block with norm_first=False:
//   x = norm1(x + sa(x));  x = norm2(x + ff(x))
#include <cstring>

#include "kernels/kernels.h"
#include "layers/layers.h"

namespace vit::layers {

namespace {

enum Site { kAttnDrop = 1, kProjDrop = 2, kMlpDrop1 = 3, kMlpDrop2 = 4, kPath1 = 5, kPath2 = 6 };

struct Context {
    int64_t B, N, rows, D, M;
    uint64_t layer;
    bool mixed, dropping;
    float attn_drop;
    const Dropout& drop;
};

Context context(const BlockParams& p, int64_t B, int64_t N, const Dropout& drop) {
    return {B,
            N,
            B * N,
            p.norm1.dim,
            p.fc1.out,
            static_cast<uint64_t>(p.index) + 1,
            p.qkv.weight_bf16 != nullptr,
            drop.training && p.drop > 0.0f,
            drop.training ? p.attn_drop : 0.0f,
            drop};
}

// The gradient of a residual branch, x_out = x + scale * dropout(branch), given dx = d x_out:
// dx itself when there is neither DropPath nor dropout, else scale * mask * dx written to buffer.
const float* branch_gradient(float* buffer, const float* dx, const float* scale, float drop_rate,
                             uint64_t seed, uint64_t stream, int64_t B, int64_t n) {
    if (scale == nullptr && drop_rate == 0.0f) {
        return dx;
    }
    std::memset(buffer, 0, static_cast<size_t>(B * n) * sizeof(float));
    cpu::residual_backward(nullptr, buffer, dx, scale, B, n);
    if (drop_rate > 0.0f) {
        // The mask-and-scale map is its own transpose: the forward kernel is the backward.
        cpu::dropout_forward(buffer, buffer, B * n, drop_rate, seed, stream);
    }
    return buffer;
}

// norm(inp) for the Linear that reads it: fp32 in a.out, or in mixed precision straight to bf16.
void norm_for(const Linear& l, const Norm& n, const NormActs& a, bf16* normed_bf16, const float* inp,
              int64_t rows) {
    if (l.weight_bf16 != nullptr) {
        norm_forward_bf16(n, a, normed_bf16, inp, rows);
    } else {
        norm_forward(n, a, inp, rows);
    }
}

// a.branch = Dropout(proj(Attention(qkv(in)))); in mixed precision the product reads in_bf16.
// With `residual` (inference), residual += proj(...) instead, inside the product.
void attention_branch_forward(const BlockParams& p, const BlockActs& a, const Context& k, const float* in,
                              const bf16* in_bf16, float* residual = nullptr) {
    linear_product(p.qkv, Epilogue::Write, a.qkv, a.qkv_bf16, in, in_bf16, k.rows);  // [rows, 3I]
    if (k.mixed) {  // attention's products in bf16 too; its output is the projection's bf16 input
        cpu::attention_forward_bf16(a.atty_bf16, a.probs, a.qkv_bf16, k.B, k.N, p.heads, p.head_size, k.attn_drop,
                                    k.drop.seed, Dropout::stream(k.layer, kAttnDrop));  // [rows, I]
    } else {
        cpu::attention_forward(a.atty, a.probs, a.qkv, k.B, k.N, p.heads, p.head_size, k.attn_drop, k.drop.seed,
                               Dropout::stream(k.layer, kAttnDrop));  // [rows, I]
    }
    if (residual != nullptr) {
        linear_product(p.proj, Epilogue::Accumulate, residual, nullptr, a.atty, a.atty_bf16, k.rows);
        return;
    }
    linear_product(p.proj, Epilogue::Write, a.branch, nullptr, a.atty, a.atty_bf16, k.rows);  // [rows, D]
    if (k.dropping) {
        cpu::dropout_forward(a.branch, a.branch, k.rows * k.D, p.drop, k.drop.seed, Dropout::stream(k.layer, kProjDrop));
    }
}

// a.branch = Dropout(fc2(Dropout(act(fc1(in))))), or with `residual` (inference)
// residual += fc2(act(fc1(in))).
void mlp_branch_forward(const BlockParams& p, const BlockActs& a, const Context& k, const float* in,
                        const bf16* in_bf16, float* residual = nullptr) {
    const int64_t n = k.rows * k.M;
    const bool relu = p.activation == cpu::Activation::Relu;
    const bool tanh = p.activation == cpu::Activation::GeluTanh;
    if (!k.drop.training) {
        // Inference keeps no pre-activation: the activation runs inside fc1's product.
        linear_product(p.fc1, Epilogue::Activate, a.gelu, a.gelu_bf16, in, in_bf16, k.rows, p.activation);
    } else {
        linear_product(p.fc1, Epilogue::Write, a.fc1, nullptr, in, in_bf16, k.rows);  // [rows, M]
        // For the backward, GELU overwrites a.fc1 with its slope there.
        if (k.mixed && !k.dropping) {  // fc2's bf16 input, directly
            if (relu) {
                cpu::relu_forward(a.fc1, a.fc1, n);
                cpu::round_to_bf16(a.gelu_bf16, a.fc1, n);
            } else {
                cpu::gelu_forward_bf16(a.gelu_bf16, a.fc1, a.fc1, n, tanh);
            }
        } else {
            if (relu) {
                cpu::relu_forward(a.gelu, a.fc1, n);
            } else {
                cpu::gelu_forward(a.gelu, a.fc1, a.fc1, n, tanh);
            }
            if (k.dropping) {
                cpu::dropout_forward(a.gelu, a.gelu, n, p.drop, k.drop.seed, Dropout::stream(k.layer, kMlpDrop1));
            }
            if (k.mixed) {
                cpu::round_to_bf16(a.gelu_bf16, a.gelu, n);
            }
        }
    }
    if (residual != nullptr) {
        linear_product(p.fc2, Epilogue::Accumulate, residual, nullptr, a.gelu, a.gelu_bf16, k.rows);
        return;
    }
    linear_product(p.fc2, Epilogue::Write, a.branch, nullptr, a.gelu, a.gelu_bf16, k.rows);  // [rows, D]
    if (k.dropping) {
        cpu::dropout_forward(a.branch, a.branch, k.rows * k.D, p.drop, k.drop.seed, Dropout::stream(k.layer, kMlpDrop2));
    }
}

// din (written) = d in, given dbranch = d a.branch after the residual's scale and dropout.
void mlp_branch_backward(const BlockParams& p, const BlockActs& a, const BlockScratch& s, const Context& k,
                         float* din, const float* dbranch, const float* in, const bf16* in_bf16) {
    const int64_t n = k.rows * k.M;
    linear_backward(p.fc2, s.dgelu, dbranch, a.gelu, a.gelu_bf16, s.dout_bf16, k.rows);
    if (k.dropping) {
        cpu::dropout_forward(s.dgelu, s.dgelu, n, p.drop, k.drop.seed, Dropout::stream(k.layer, kMlpDrop1));
    }
    if (p.activation != cpu::Activation::Relu && k.mixed) {  // fc1's backward applies GELU's slope
        linear_backward(p.fc1, din, s.dgelu, in, in_bf16, s.dout_bf16, k.rows, a.fc1);
        return;
    }
    if (p.activation == cpu::Activation::Relu) {
        cpu::relu_backward(s.dfc1, a.fc1, s.dgelu, n);
    } else {
        cpu::gelu_backward(s.dfc1, a.fc1, s.dgelu, n);  // a.fc1 holds GELU's slope
    }
    linear_backward(p.fc1, din, s.dfc1, in, in_bf16, s.dout_bf16, k.rows);
}

void attention_branch_backward(const BlockParams& p, const BlockActs& a, const BlockScratch& s, const Context& k,
                               float* din, const float* dbranch, const float* in, const bf16* in_bf16) {
    linear_backward(p.proj, s.datty, dbranch, a.atty, a.atty_bf16, s.dout_bf16, k.rows);
    if (k.mixed) {  // attention writes qkv's output gradient in bf16 and takes its bias gradient
        cpu::attention_backward_bf16(s.dout_bf16, p.qkv.dbias, s.datty, a.qkv_bf16, a.probs, k.B, k.N, p.heads,
                                     p.head_size, k.attn_drop, k.drop.seed, Dropout::stream(k.layer, kAttnDrop));
        linear_backward_products(p.qkv, din, s.dout_bf16, in_bf16, k.rows);
        return;
    }
    cpu::attention_backward(s.dqkv, s.datty, a.qkv, a.probs, k.B, k.N, p.heads, p.head_size, k.attn_drop,
                            k.drop.seed, Dropout::stream(k.layer, kAttnDrop));
    linear_backward(p.qkv, din, s.dqkv, in, in_bf16, s.dout_bf16, k.rows);
}

}  // namespace

void block_forward(const BlockParams& p, const BlockActs& a, const float* x_in, int64_t B, int64_t N,
                   const Dropout& drop) {
    const Context k = context(p, B, N, drop);
    const bool path_drop = drop.training && p.drop_path > 0.0f;
    if (path_drop) {
        cpu::drop_path_scales(a.path_scale1, B, p.drop_path, drop.seed, Dropout::stream(k.layer, kPath1));
        cpu::drop_path_scales(a.path_scale2, B, p.drop_path, drop.seed, Dropout::stream(k.layer, kPath2));
    }
    const float* scale1 = path_drop ? a.path_scale1 : nullptr;
    const float* scale2 = path_drop ? a.path_scale2 : nullptr;
    if (!p.post_norm && !drop.training) {
        // Inference updates the residual stream in place (the plan points x_mid and x_out at
        // x_in and gives no branch buffer): each branch's last product adds into it.
        float* x = a.x_mid;
        norm_for(p.qkv, p.norm1, a.ln1, a.ln1_bf16, x, k.rows);
        attention_branch_forward(p, a, k, a.ln1.out, a.ln1_bf16, x);
        norm_for(p.fc1, p.norm2, a.ln2, a.ln2_bf16, x, k.rows);
        mlp_branch_forward(p, a, k, a.ln2.out, a.ln2_bf16, x);
        return;
    }
    if (!p.post_norm) {
        norm_for(p.qkv, p.norm1, a.ln1, a.ln1_bf16, x_in, k.rows);
        attention_branch_forward(p, a, k, a.ln1.out, a.ln1_bf16);
        cpu::residual_forward(a.x_mid, x_in, a.branch, scale1, B, N * k.D);
        norm_for(p.fc1, p.norm2, a.ln2, a.ln2_bf16, a.x_mid, k.rows);
        mlp_branch_forward(p, a, k, a.ln2.out, a.ln2_bf16);
        cpu::residual_forward(a.x_out, a.x_mid, a.branch, scale2, B, N * k.D);
        return;
    }
    if (k.mixed) {
        cpu::round_to_bf16(a.ln1_bf16, x_in, k.rows * k.D);
    }
    attention_branch_forward(p, a, k, x_in, a.ln1_bf16);
    cpu::residual_forward(a.sum1, x_in, a.branch, scale1, B, N * k.D);
    norm_forward(p.norm1, a.ln1, a.sum1, k.rows);  // a.ln1.out is x_mid
    if (k.mixed) {
        cpu::round_to_bf16(a.ln2_bf16, a.ln1.out, k.rows * k.D);
    }
    mlp_branch_forward(p, a, k, a.ln1.out, a.ln2_bf16);
    cpu::residual_forward(a.sum2, a.ln1.out, a.branch, scale2, B, N * k.D);
    norm_forward(p.norm2, a.ln2, a.sum2, k.rows);  // a.ln2.out is x_out
}

void block_backward(const BlockParams& p, const BlockActs& a, const BlockScratch& s, float* dx,
                    const float* x_in, int64_t B, int64_t N, const Dropout& drop) {
    const Context k = context(p, B, N, drop);
    const bool path_drop = drop.training && p.drop_path > 0.0f;
    const float* scale1 = path_drop ? a.path_scale1 : nullptr;
    const float* scale2 = path_drop ? a.path_scale2 : nullptr;
    const float drop_rate = k.dropping ? p.drop : 0.0f;
    const int64_t n = N * k.D;
    if (!p.post_norm) {
        // forward: x_out = x_mid + s2 * dropout(mlp(norm2(x_mid))); the identity path leaves dx as d x_mid.
        const float* dbranch =
            branch_gradient(s.dbranch, dx, scale2, drop_rate, drop.seed, Dropout::stream(k.layer, kMlpDrop2), B, n);
        mlp_branch_backward(p, a, s, k, s.dln, dbranch, a.ln2.out, a.ln2_bf16);
        norm_backward(p.norm2, dx, s.dln, a.ln2, a.x_mid, k.rows);  // dx is now d x_mid in full
        // forward: x_mid = x_in + s1 * dropout(attention(norm1(x_in)))
        dbranch = branch_gradient(s.dbranch, dx, scale1, drop_rate, drop.seed, Dropout::stream(k.layer, kProjDrop), B, n);
        attention_branch_backward(p, a, s, k, s.dln, dbranch, a.ln1.out, a.ln1_bf16);
        norm_backward(p.norm1, dx, s.dln, a.ln1, x_in, k.rows);  // dx is now d x_in
        return;
    }
    // forward: x_out = norm2(sum2), sum2 = x_mid + s2 * dropout(mlp(x_mid))
    float* dsum = s.dln;
    std::memset(dsum, 0, static_cast<size_t>(k.rows * k.D) * sizeof(float));
    norm_backward(p.norm2, dsum, dx, a.ln2, a.sum2, k.rows);
    const float* dbranch =
        branch_gradient(s.dbranch, dsum, scale2, drop_rate, drop.seed, Dropout::stream(k.layer, kMlpDrop2), B, n);
    mlp_branch_backward(p, a, s, k, dx, dbranch, a.ln1.out, a.ln2_bf16);
    cpu::residual_forward(dx, dx, dsum, nullptr, 1, k.rows * k.D);  // dx is now d x_mid
    // forward: x_mid = norm1(sum1), sum1 = x_in + s1 * dropout(attention(x_in))
    std::memset(dsum, 0, static_cast<size_t>(k.rows * k.D) * sizeof(float));
    norm_backward(p.norm1, dsum, dx, a.ln1, a.sum1, k.rows);
    dbranch = branch_gradient(s.dbranch, dsum, scale1, drop_rate, drop.seed, Dropout::stream(k.layer, kProjDrop), B, n);
    attention_branch_backward(p, a, s, k, dx, dbranch, x_in, a.ln1_bf16);
    cpu::residual_forward(dx, dx, dsum, nullptr, 1, k.rows * k.D);  // dx is now d x_in
}

}  // namespace vit::layers
