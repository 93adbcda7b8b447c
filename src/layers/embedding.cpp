// Patch embedding (unfold + matrix product, optionally between lucidrains' LayerNorms), class
// token, position table and embedding dropout.
// ref: timm vision_transformer.py VisionTransformer._pos_embed and PatchEmbed.forward.
#include <cstring>

#include "kernels/kernels.h"
#include "layers/layers.h"

namespace vit::layers {

namespace {
constexpr int kSitePosDrop = 0;
}

void embedding_forward(const EmbeddingParams& p, const EmbeddingActs& a, const float* images,
                       int64_t B, const Dropout& drop) {
    const int64_t NP = (p.image_height / p.patch) * (p.image_width / p.patch);
    const int64_t D = p.proj.out;
    if (p.nhwc_input) {
        cpu::nhwc2patch_forward(a.patches, images, B, p.channels, p.image_height, p.image_width, p.patch);
    } else {
        cpu::im2patch_forward(a.patches, images, B, p.channels, p.image_height, p.image_width, p.patch);
    }
    const float* proj_in = a.patches;
    if (p.patch_norm) {
        norm_forward(p.norm_pre, a.patches_normed, a.patches, B * NP);
        proj_in = a.patches_normed.out;
    }
    linear_forward(p.proj, a.patch_tokens, proj_in, a.proj_in_bf16, B * NP);  // [B*NP, D]
    const float* tokens = a.patch_tokens;
    if (p.patch_norm) {
        norm_forward(p.norm, a.tokens_normed, a.patch_tokens, B * NP);
        tokens = a.tokens_normed.out;
    }
    cpu::tokens_forward(a.x, tokens, p.cls_token, p.pos_embed, B, NP, D);  // [B, N, D]
    if (drop.training && p.drop > 0.0f) {
        cpu::dropout_forward(a.x, a.x, B * (NP + 1) * D, p.drop, drop.seed,
                             Dropout::stream(0, kSitePosDrop));
    }
}

void embedding_backward(const EmbeddingParams& p, const EmbeddingActs& a, const EmbeddingScratch& s,
                        float* dx, int64_t B, const Dropout& drop) {
    const int64_t NP = (p.image_height / p.patch) * (p.image_width / p.patch);
    const int64_t D = p.proj.out;
    if (drop.training && p.drop > 0.0f) {
        // forward: x = dropout(tokens). The mask-and-scale map is its own transpose, so the
        // forward kernel applied to dx in place is the backward.
        cpu::dropout_forward(dx, dx, B * (NP + 1) * D, p.drop, drop.seed,
                             Dropout::stream(0, kSitePosDrop));
    }
    std::memset(s.dpatch_tokens, 0, static_cast<size_t>(B * NP * D) * sizeof(float));
    cpu::tokens_backward(s.dpatch_tokens, p.dcls_token, p.dpos_embed, dx, B, NP, D);
    const float* dtokens = s.dpatch_tokens;
    if (p.patch_norm) {
        std::memset(s.dtokens_normed, 0, static_cast<size_t>(B * NP * D) * sizeof(float));
        norm_backward(p.norm, s.dtokens_normed, s.dpatch_tokens, a.tokens_normed, a.patch_tokens, B * NP);
        dtokens = s.dtokens_normed;
    }
    const float* proj_in = p.patch_norm ? a.patches_normed.out : a.patches;
    float* dproj_in = p.patch_norm ? s.dpatches_normed : (p.nhwc_input ? s.dpatches : nullptr);
    linear_backward(p.proj, dproj_in, dtokens, proj_in, a.proj_in_bf16, s.dout_bf16, B * NP);
    if (p.nhwc_input) {
        cpu::nhwc2patch_backward(s.dmaps, s.dpatches, B, p.channels, p.image_height, p.image_width, p.patch);
    }
    if (p.patch_norm) {
        // The image gradient is not needed, but the norm's parameter gradients are.
        norm_backward(p.norm_pre, nullptr, dproj_in, a.patches_normed, a.patches, B * NP);
    }
}

}  // namespace vit::layers
