// The Transformer encoder block, pre-norm (timm's Block) or post-norm (PyTorch's
// nn.TransformerEncoderLayer), composed of the same two residual branches.
// ref: timm vision_transformer.py Block.forward:
//   x = x + drop_path1(ls1(attn(norm1(x))))
//   x = x + drop_path2(ls2(mlp(norm2(x))))
// and torch nn.TransformerEncoderLayer._sa_block / _ff_block with norm_first=False:
//   x = norm1(x + sa(x));  x = norm2(x + ff(x))
// (timm's ResPostBlock normalises the branch instead, x + norm1(attn(x)): not this block),
// with Attention = proj(softmax(q k^T * scale) v) and Mlp = fc2(drop(act(fc1(x)))).
#include "layers/layers.h"

namespace vit::layers {

namespace {

// The dropout sites of one block (rates as in training; the inference passes use none).
struct Sites {
    DropoutSite attn, proj, mlp1, mlp2, path1, path2;
};

Sites sites(const BlockParams& p, const MaskKey& key, int64_t B) {
    const int64_t layer = p.index + 1;
    auto at = [&](float rate, int site) { return DropoutSite(rate, key, DropoutSite::stream_of(layer, site), B); };
    return {at(p.attn_drop, kAttnDrop), at(p.drop, kProjDrop), at(p.drop, kMlpDrop1),
            at(p.drop, kMlpDrop2),      at(p.drop_path, kPath1), at(p.drop_path, kPath2)};
}

AttentionShape shape(const BlockParams& p, int64_t B, int64_t N) { return {B, N, p.heads, p.head_size}; }

// DropPath's per-sample scales, or nullptr (a scale of 1) without DropPath.
const float* path_scale(Ops& ops, const BlockParams& p, float* scale, const DropoutSite& site, int64_t B) {
    if (p.drop_path == 0.0f) {
        return nullptr;
    }
    ops.drop_path_scales(scale, site, B);
    return scale;
}

// branch = proj(Attention(qkv(a.qkv_in)))
void attention_forward(Ops& ops, const BlockParams& p, const BlockActs& a, float* branch, int64_t B, int64_t N,
                       const Sites& s) {
    ops.linear_to_operand(a.qkv, a.qkv_in, p.qkv, B * N);
    ops.attention(a.atty, a.probs, a.qkv, shape(p, B, N), s.attn);
    ops.linear(branch, a.atty, p.proj, B * N);
}

// branch = fc2(Dropout(act(fc1(a.fc1_in))))
void mlp_forward(Ops& ops, const BlockParams& p, const BlockActs& a, float* branch, int64_t rows, const Sites& s) {
    ops.linear(a.fc1, a.fc1_in, p.fc1, rows);
    ops.activation(a.fc2_in, a.fc1, p.activation, s.mlp1, rows * p.fc1.out);
    ops.linear(branch, a.fc2_in, p.fc2, rows);
}

// out = x + DropPath(LS(Dropout(branch))): without LayerScale the branch is in a.branch; with it in
// `kept` (its dropped-out values stay there for gamma's gradient) and a.branch takes LS's output.
void add_branch(Ops& ops, const BlockParams& p, const BlockActs& a, const Scale& ls, float* kept, float* out,
                const float* x, const float* scale, const DropoutSite& drop, int64_t B, int64_t N) {
    const int64_t D = p.norm1.dim;
    if (!p.layer_scale) {
        ops.residual(out, x, a.branch, scale, drop, B, N * D);
        return;
    }
    ops.dropout(kept, drop, B * N * D);
    ops.layer_scale(a.branch, kept, ls.gamma, B * N, D);
    ops.residual(out, x, a.branch, scale, {}, B, N * D);
}

// The gradient of the branch before DropPath, LS and Dropout, given dout = d out of add_branch.
const float* branch_gradient(Ops& ops, const BlockParams& p, const BlockGrads& g, const Scale& ls, const float* kept,
                             const float* dout, const float* scale, const DropoutSite& drop, int64_t B, int64_t N) {
    const int64_t D = p.norm1.dim;
    if (!p.layer_scale) {
        return ops.residual_branch_gradient(g.dbranch, dout, scale, drop, B, N * D);
    }
    const float* dscaled = ops.residual_branch_gradient(g.dbranch, dout, scale, {}, B, N * D);
    ops.layer_scale_backward(g.dbranch, ls.dgamma, dscaled, kept, ls.gamma, B * N, D);
    ops.dropout(g.dbranch, drop, B * N * D);
    return g.dbranch;
}

// din (written) = d a.qkv_in, given dbranch = d a.branch.
void attention_backward(Ops& ops, const BlockParams& p, const BlockActs& a, const BlockGrads& g, float* din,
                        const float* dbranch, int64_t B, int64_t N, const Sites& s) {
    ops.linear_backward(g.datty, dbranch, a.atty, p.proj, B * N);
    ops.attention_linear_backward(din, g.datty, a.qkv, a.probs, shape(p, B, N), s.attn, a.qkv_in, p.qkv, B * N);
}

// din (written) = d a.fc1_in, given dbranch = d a.branch.
void mlp_backward(Ops& ops, const BlockParams& p, const BlockActs& a, const BlockGrads& g, float* din,
                  const float* dbranch, int64_t rows, const Sites& s) {
    ops.linear_backward(g.dact, dbranch, a.fc2_in, p.fc2, rows);
    ops.dropout(g.dact, s.mlp1, rows * p.fc1.out);
    ops.activation_linear_backward(din, g.dact, a.fc1, p.activation, a.fc1_in, p.fc1, rows);
}

}  // namespace

// ---- pre-norm -----------------------------------------------------------------------------------

void pre_norm_block_forward(Ops& ops, const BlockParams& p, const BlockActs& a, const float* x_in, int64_t B,
                            int64_t N, const MaskKey& key) {
    const Sites s = sites(p, key, B);
    const int64_t rows = B * N;
    // x_mid = x_in + DropPath(LS1(Dropout(proj(Attention(norm1(x_in))))))
    ops.norm(a.qkv_in, a.norm1, x_in, p.norm1, rows);
    attention_forward(ops, p, a, p.layer_scale ? a.ls1_in : a.branch, B, N, s);
    add_branch(ops, p, a, p.ls1, a.ls1_in, a.x_mid, x_in, path_scale(ops, p, a.path_scale1, s.path1, B), s.proj, B, N);
    // x_out = x_mid + DropPath(LS2(Dropout(fc2(Dropout(act(fc1(norm2(x_mid))))))))
    ops.norm(a.fc1_in, a.norm2, a.x_mid, p.norm2, rows);
    mlp_forward(ops, p, a, p.layer_scale ? a.ls2_in : a.branch, rows, s);
    add_branch(ops, p, a, p.ls2, a.ls2_in, a.x_out, a.x_mid, path_scale(ops, p, a.path_scale2, s.path2, B), s.mlp2, B,
               N);
}

void pre_norm_block_backward(Ops& ops, const BlockParams& p, const BlockActs& a, const BlockGrads& g, float* dx,
                             const float* x_in, int64_t B, int64_t N, const MaskKey& key) {
    const Sites s = sites(p, key, B);
    const int64_t rows = B * N;
    const float* scale1 = p.drop_path > 0.0f ? a.path_scale1 : nullptr;
    const float* scale2 = p.drop_path > 0.0f ? a.path_scale2 : nullptr;
    // x_out = x_mid + branch: dx is d x_mid along the identity path, plus the MLP's share
    const float* dbranch = branch_gradient(ops, p, g, p.ls2, a.ls2_in, dx, scale2, s.mlp2, B, N);
    mlp_backward(ops, p, a, g, g.dnormed, dbranch, rows, s);
    ops.norm_backward(dx, g.dnormed, a.norm2, a.x_mid, p.norm2, rows);  // dx = d x_mid
    // x_mid = x_in + branch
    dbranch = branch_gradient(ops, p, g, p.ls1, a.ls1_in, dx, scale1, s.proj, B, N);
    attention_backward(ops, p, a, g, g.dnormed, dbranch, B, N, s);
    ops.norm_backward(dx, g.dnormed, a.norm1, x_in, p.norm1, rows);  // dx = d x_in
}

// Inference: x += LS(inp @ W^T + b), the sum inside the product when there is no LayerScale.
void add_product(Ops& ops, const BlockParams& p, const BlockInferenceActs& a, const Scale& ls, float* x, Operand inp,
                 const Linear& l, int64_t rows) {
    if (!p.layer_scale) {
        ops.linear_accumulate(x, inp, l, rows);
        return;
    }
    ops.linear(a.branch, inp, l, rows);
    ops.layer_scale(a.branch, a.branch, ls.gamma, rows, l.out);
    ops.add(x, a.branch, rows * l.out);
}

void pre_norm_block_inference(Ops& ops, const BlockParams& p, const BlockInferenceActs& a, float* x, float* probs,
                              int64_t B, int64_t N) {
    const int64_t rows = B * N;
    // x += LS1(proj(Attention(norm1(x))))
    ops.norm(a.qkv_in, {}, x, p.norm1, rows);
    ops.linear_to_operand(a.qkv, a.qkv_in, p.qkv, rows);
    ops.attention(a.atty, probs, a.qkv, shape(p, B, N), {});
    add_product(ops, p, a, p.ls1, x, a.atty, p.proj, rows);
    // x += LS2(fc2(act(fc1(norm2(x))))), the activation inside fc1's product
    ops.norm(a.fc1_in, {}, x, p.norm2, rows);
    ops.linear_activation(a.fc2_in, a.fc1_in, p.fc1, p.activation, rows);
    add_product(ops, p, a, p.ls2, x, a.fc2_in, p.fc2, rows);
}

// ---- post-norm ----------------------------------------------------------------------------------

void post_norm_block_forward(Ops& ops, const BlockParams& p, const BlockActs& a, const float* x_in, int64_t B,
                             int64_t N, const MaskKey& key) {
    const Sites s = sites(p, key, B);
    const int64_t rows = B * N, D = p.norm1.dim, n = N * D;
    // x_mid = norm1(x_in + DropPath(Dropout(proj(Attention(x_in)))))
    ops.to_operand(a.qkv_in, x_in, rows * D);
    attention_forward(ops, p, a, a.branch, B, N, s);
    ops.residual(a.sum1, x_in, a.branch, path_scale(ops, p, a.path_scale1, s.path1, B), s.proj, B, n);
    ops.norm_f32(a.x_mid, a.norm1, a.sum1, p.norm1, rows);
    // x_out = norm2(x_mid + DropPath(Dropout(fc2(Dropout(act(fc1(x_mid)))))))
    ops.to_operand(a.fc1_in, a.x_mid, rows * D);
    mlp_forward(ops, p, a, a.branch, rows, s);
    ops.residual(a.sum2, a.x_mid, a.branch, path_scale(ops, p, a.path_scale2, s.path2, B), s.mlp2, B, n);
    ops.norm_f32(a.x_out, a.norm2, a.sum2, p.norm2, rows);
}

void post_norm_block_backward(Ops& ops, const BlockParams& p, const BlockActs& a, const BlockGrads& g, float* dx,
                              int64_t B, int64_t N, const MaskKey& key) {
    const Sites s = sites(p, key, B);
    const int64_t rows = B * N, D = p.norm1.dim, n = N * D;
    const float* scale1 = p.drop_path > 0.0f ? a.path_scale1 : nullptr;
    const float* scale2 = p.drop_path > 0.0f ? a.path_scale2 : nullptr;
    // x_out = norm2(sum2), sum2 = x_mid + branch: g.dnormed = d sum2
    ops.zero(g.dnormed, rows * D);
    ops.norm_backward(g.dnormed, dx, a.norm2, a.sum2, p.norm2, rows);
    const float* dbranch = ops.residual_branch_gradient(g.dbranch, g.dnormed, scale2, s.mlp2, B, n);
    mlp_backward(ops, p, a, g, dx, dbranch, rows, s);
    ops.add(dx, g.dnormed, rows * D);  // dx = d x_mid
    // x_mid = norm1(sum1), sum1 = x_in + branch: g.dnormed = d sum1
    ops.zero(g.dnormed, rows * D);
    ops.norm_backward(g.dnormed, dx, a.norm1, a.sum1, p.norm1, rows);
    dbranch = ops.residual_branch_gradient(g.dbranch, g.dnormed, scale1, s.proj, B, n);
    attention_backward(ops, p, a, g, dx, dbranch, B, N, s);
    ops.add(dx, g.dnormed, rows * D);  // dx = d x_in
}

void post_norm_block_inference(Ops& ops, const BlockParams& p, const BlockInferenceActs& a, float* x, float* probs,
                               int64_t B, int64_t N) {
    const int64_t rows = B * N, D = p.norm1.dim, n = N * D;
    // x = norm1(x + proj(Attention(x)))
    ops.to_operand(a.qkv_in, x, rows * D);
    ops.linear_to_operand(a.qkv, a.qkv_in, p.qkv, rows);
    ops.attention(a.atty, probs, a.qkv, shape(p, B, N), {});
    ops.linear(a.branch, a.atty, p.proj, rows);
    ops.residual(a.sum, x, a.branch, nullptr, {}, B, n);
    ops.norm_f32(x, {}, a.sum, p.norm1, rows);
    // x = norm2(x + fc2(act(fc1(x)))), the activation inside fc1's product
    ops.to_operand(a.fc1_in, x, rows * D);
    ops.linear_activation(a.fc2_in, a.fc1_in, p.fc1, p.activation, rows);
    ops.linear(a.branch, a.fc2_in, p.fc2, rows);
    ops.residual(a.sum, x, a.branch, nullptr, {}, B, n);
    ops.norm_f32(x, {}, a.sum, p.norm2, rows);
}

}  // namespace vit::layers
