// The pre-norm Transformer encoder block.
// ref: timm vision_transformer.py Block.forward:
//   x = x + drop_path1(ls1(attn(norm1(x))))
//   x = x + drop_path2(ls2(mlp(norm2(x))))
// with Attention = proj(softmax(q k^T * scale) v) and Mlp = fc2(drop(act(fc1(x)))).
#include <cstring>

#include "kernels/kernels.h"
#include "layers/layers.h"

namespace vit::layers {

namespace {

enum Site { kAttnDrop = 1, kProjDrop = 2, kMlpDrop1 = 3, kMlpDrop2 = 4, kPath1 = 5, kPath2 = 6 };

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

}  // namespace

void block_forward(const BlockParams& p, const BlockActs& a, const float* x_in, int64_t B, int64_t N,
                   const Dropout& drop) {
    const int64_t rows = B * N;
    const int64_t D = p.norm1.dim;
    const int64_t M = p.fc1.out;
    const uint64_t layer = static_cast<uint64_t>(p.index) + 1;
    const bool dropping = drop.training && p.drop > 0.0f;
    const bool path_drop = drop.training && p.drop_path > 0.0f;
    if (path_drop) {
        cpu::drop_path_scales(a.path_scale1, B, p.drop_path, drop.seed, Dropout::stream(layer, kPath1));
        cpu::drop_path_scales(a.path_scale2, B, p.drop_path, drop.seed, Dropout::stream(layer, kPath2));
    }
    const float* scale1 = path_drop ? a.path_scale1 : nullptr;
    const float* scale2 = path_drop ? a.path_scale2 : nullptr;

    const bool mixed = p.qkv.weight_bf16 != nullptr;

    // x_mid = x_in + DropPath(Dropout(proj(Attention(norm1(x_in)))))
    const float attn_drop = drop.training ? p.attn_drop : 0.0f;
    norm_for(p.qkv, p.norm1, a.ln1, a.ln1_bf16, x_in, rows);
    linear_product(p.qkv, Epilogue::Write, a.qkv, a.qkv_bf16, a.ln1.out, a.ln1_bf16, rows);     // [rows, 3I]
    if (mixed) {  // attention's products in bf16 too; its output is the projection's bf16 input
        cpu::attention_forward_bf16(a.atty_bf16, a.probs, a.qkv_bf16, B, N, p.heads, p.head_size, attn_drop,
                                    drop.seed, Dropout::stream(layer, kAttnDrop));             // [rows, I]
    } else {
        cpu::attention_forward(a.atty, a.probs, a.qkv, B, N, p.heads, p.head_size, attn_drop, drop.seed,
                               Dropout::stream(layer, kAttnDrop));                              // [rows, I]
    }
    linear_product(p.proj, Epilogue::Write, a.branch, nullptr, a.atty, a.atty_bf16, rows);     // [rows, D]
    if (dropping) {
        cpu::dropout_forward(a.branch, a.branch, rows * D, p.drop, drop.seed,
                             Dropout::stream(layer, kProjDrop));
    }
    cpu::residual_forward(a.x_mid, x_in, a.branch, scale1, B, N * D);

    // x_out = x_mid + DropPath(Dropout(fc2(Dropout(GELU(fc1(norm2(x_mid)))))))
    norm_for(p.fc1, p.norm2, a.ln2, a.ln2_bf16, a.x_mid, rows);
    if (!drop.training) {
        // Inference keeps no pre-activation: GELU runs inside fc1's product.
        linear_product(p.fc1, Epilogue::Gelu, a.gelu, a.gelu_bf16, a.ln2.out, a.ln2_bf16, rows, p.gelu_tanh);
    } else {
        linear_product(p.fc1, Epilogue::Write, a.fc1, nullptr, a.ln2.out, a.ln2_bf16, rows);    // [rows, M]
        if (mixed && !dropping) {
            cpu::gelu_forward_bf16(a.gelu_bf16, a.fc1, rows * M, p.gelu_tanh);  // fc2's input, directly
        } else {
            cpu::gelu_forward(a.gelu, a.fc1, rows * M, p.gelu_tanh);
            if (dropping) {
                cpu::dropout_forward(a.gelu, a.gelu, rows * M, p.drop, drop.seed,
                                     Dropout::stream(layer, kMlpDrop1));
            }
            if (mixed) {
                cpu::round_to_bf16(a.gelu_bf16, a.gelu, rows * M);
            }
        }
    }
    linear_product(p.fc2, Epilogue::Write, a.branch, nullptr, a.gelu, a.gelu_bf16, rows);       // [rows, D]
    if (dropping) {
        cpu::dropout_forward(a.branch, a.branch, rows * D, p.drop, drop.seed,
                             Dropout::stream(layer, kMlpDrop2));
    }
    cpu::residual_forward(a.x_out, a.x_mid, a.branch, scale2, B, N * D);
}

void block_backward(const BlockParams& p, const BlockActs& a, const BlockScratch& s, float* dx,
                    const float* x_in, int64_t B, int64_t N, const Dropout& drop) {
    const int64_t rows = B * N;
    const int64_t D = p.norm1.dim;
    const int64_t M = p.fc1.out;
    const uint64_t layer = static_cast<uint64_t>(p.index) + 1;
    const bool dropping = drop.training && p.drop > 0.0f;
    const bool path_drop = drop.training && p.drop_path > 0.0f;
    const float* scale1 = path_drop ? a.path_scale1 : nullptr;
    const float* scale2 = path_drop ? a.path_scale2 : nullptr;

    // forward: x_out = x_mid + s2 * dropout(fc2(h)); the identity path leaves dx as d x_mid.
    const float* dbranch = branch_gradient(s.dbranch, dx, scale2, dropping ? p.drop : 0.0f, drop.seed,
                                           Dropout::stream(layer, kMlpDrop2), B, N * D);
    // forward: branch = fc2(gelu)
    linear_backward(p.fc2, s.dgelu, dbranch, a.gelu, a.gelu_bf16, s.dout_bf16, rows);
    // forward: gelu = dropout(GELU(fc1))
    if (dropping) {
        cpu::dropout_forward(s.dgelu, s.dgelu, rows * M, p.drop, drop.seed,
                             Dropout::stream(layer, kMlpDrop1));
    }
    cpu::gelu_backward(s.dfc1, a.fc1, s.dgelu, rows * M, p.gelu_tanh);
    // forward: fc1 = Linear(norm2(x_mid))
    linear_backward(p.fc1, s.dln, s.dfc1, a.ln2.out, a.ln2_bf16, s.dout_bf16, rows);
    norm_backward(p.norm2, dx, s.dln, a.ln2, a.x_mid, rows);  // dx is now d x_mid in full

    // forward: x_mid = x_in + s1 * dropout(proj(atty))
    dbranch = branch_gradient(s.dbranch, dx, scale1, dropping ? p.drop : 0.0f, drop.seed,
                              Dropout::stream(layer, kProjDrop), B, N * D);
    linear_backward(p.proj, s.datty, dbranch, a.atty, a.atty_bf16, s.dout_bf16, rows);
    const float attn_drop = drop.training ? p.attn_drop : 0.0f;
    const bool mixed = p.qkv.weight_bf16 != nullptr;
    if (mixed) {
        cpu::attention_backward_bf16(s.dqkv, s.datty, a.qkv_bf16, a.probs, B, N, p.heads, p.head_size,
                                     attn_drop, drop.seed, Dropout::stream(layer, kAttnDrop));
    } else {
        cpu::attention_backward(s.dqkv, s.datty, a.qkv, a.probs, B, N, p.heads, p.head_size, attn_drop,
                                drop.seed, Dropout::stream(layer, kAttnDrop));
    }
    linear_backward(p.qkv, s.dln, s.dqkv, a.ln1.out, a.ln1_bf16, s.dout_bf16, rows);
    norm_backward(p.norm1, dx, s.dln, a.ln1, x_in, rows);  // dx is now d x_in
}

}  // namespace vit::layers
