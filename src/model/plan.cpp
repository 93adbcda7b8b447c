// The activation plan of a ViT: every intermediate of a forward (and backward) pass gets a place
// in the model's flat activation and scratch buffers.
#include <algorithm>

#include "kernels/kernels.h"
#include "model/plan.h"

namespace vit {

// ---- activation plan ------------------------------------------------------------------------
// Training keeps every block's intermediates for the backward pass. Inference points every block
// at one set of buffers and runs the residual stream in place, so memory does not grow with depth.

void ViT::plan_activations(int64_t B, bool training, bool keep_attention) {
    if (plan_ && plan_->batch == B && plan_->training == training &&
        plan_->keep_attention == keep_attention && plan_->precision == precision_) {
        return;
    }
    const ViTConfig& c = config_;
    const int64_t N = c.num_tokens(), NP = c.num_patches(), D = c.embed_dim, I = c.inner_dim();
    const int64_t M = c.mlp_dim, NH = c.num_heads, PD = c.patch_dim(), F = c.feature_dim();
    const int64_t rows = B * N;

    auto plan = std::make_unique<Plan>();
    plan->batch = B;
    plan->training = training;
    plan->keep_attention = keep_attention;
    plan->precision = precision_;
    const bool mixed = precision_ == Precision::BF16;

    // Two passes over the same list: first count, then hand out pointers.
    for (int pass = 0; pass < 2; pass++) {
        int64_t acts_used = 0, scratch_used = 0, acts_bf16_used = 0, scratch_bf16_used = 0;
        auto take = [&]<typename T>(Buffer<T>& buf, int64_t& used, int64_t n) -> T* {
            T* p = pass == 1 ? buf.data() + used : nullptr;
            used += (n + 31) / 32 * 32;  // 64-byte aligned for fp32 and bf16
            return p;
        };
        auto act = [&](int64_t n) { return take(acts_, acts_used, n); };
        auto scr = [&](int64_t n) { return take(scratch_, scratch_used, n); };
        auto act_bf16 = [&](int64_t n) { return mixed ? take(acts_bf16_, acts_bf16_used, n) : nullptr; };
        auto scr_bf16 = [&](int64_t n) { return mixed ? take(scratch_bf16_, scratch_bf16_used, n) : nullptr; };
        auto norm_acts = [&](int64_t r, int64_t dim, bool out_elsewhere = false) {  // bf16 only, or e.x
            return layers::NormActs{out_elsewhere ? nullptr : act(r * dim), training ? act(r) : nullptr,
                                    training ? act(r) : nullptr};
        };

        if (c.hybrid) {
            plan_backbone(*plan, act, scr);
            plan->embed_scratch.dpatches = training ? scr(B * NP * PD) : nullptr;
            plan->embed_scratch.dmaps = training ? scr(B * NP * PD) : nullptr;
        }
        layers::EmbeddingActs& e = plan->embed;
        e.patches = act(B * NP * PD);
        if (c.patch_norm) {
            e.patches_normed = norm_acts(B * NP, PD);
        }
        e.proj_in_bf16 = act_bf16(B * NP * PD);
        e.patch_tokens = act(B * NP * D);
        if (c.patch_norm) {
            e.tokens_normed = norm_acts(B * NP, D);
        }
        e.x = act(rows * D);

        plan->blocks.assign(static_cast<size_t>(c.depth), {});
        float* branch = training || c.post_norm ? act(rows * D) : nullptr;  // pre-norm inference adds in place
        layers::BlockActs shared;
        for (int64_t l = 0; l < c.depth; l++) {
            layers::BlockActs& a = plan->blocks[static_cast<size_t>(l)];
            if (training || l == 0) {
                // Mixed precision: the norms and GELU write their Linears' bf16 inputs directly;
                // GELU's fp32 output is only kept for dropout.
                // Post-norm: the norms' fp32 outputs are the block's x_mid and x_out (in inference
                // the residual stream e.x itself).
                const bool no_norm_buffer = c.post_norm ? !training : mixed;
                a.ln1 = norm_acts(rows, D, no_norm_buffer);
                a.qkv = mixed ? nullptr : act(rows * 3 * I);
                a.atty = mixed ? nullptr : act(rows * I);
                a.ln2 = norm_acts(rows, D, no_norm_buffer);
                a.fc1 = training ? act(rows * M) : nullptr;  // inference runs GELU inside fc1's product
                a.gelu = mixed && !(training && c.drop_rate > 0.0f) ? nullptr : act(rows * M);
                a.branch = branch;
                if (c.post_norm) {
                    a.sum1 = act(rows * D);
                    a.sum2 = training ? act(rows * D) : a.sum1;
                    if (!training) a.ln1.out = a.ln2.out = e.x;
                    a.x_mid = a.ln1.out;
                    a.x_out = a.ln2.out;
                } else {
                    a.x_mid = training ? act(rows * D) : e.x;
                    a.x_out = training ? act(rows * D) : e.x;
                }
                a.path_scale1 = training ? act(B) : nullptr;
                a.path_scale2 = training ? act(B) : nullptr;
                a.probs = training || keep_attention ? act(B * NH * N * N) : nullptr;  // nullptr: per-thread tiles
                a.ln1_bf16 = act_bf16(rows * D);
                a.qkv_bf16 = act_bf16(rows * 3 * I);
                a.atty_bf16 = act_bf16(rows * I);
                a.ln2_bf16 = act_bf16(rows * D);
                a.gelu_bf16 = act_bf16(rows * M);
                shared = a;
            } else {
                a = shared;
                if (keep_attention) {
                    a.probs = act(B * NH * N * N);
                }
            }
        }
        layers::HeadActs& h = plan->head;
        if (!c.fc_norm && c.final_norm()) {
            h.tokens_normed = norm_acts(rows, D);
        }
        h.pooled = act(B * D);
        if (c.fc_norm) {
            h.pooled_normed = norm_acts(B, D);
        }
        if (c.pre_logits_dim > 0) {
            h.pre_logits = act(B * F);
        }
        h.features = c.pre_logits_dim > 0 ? h.pre_logits : (c.fc_norm ? h.pooled_normed.out : h.pooled);
        h.logits = c.num_classes > 0 ? act(B * c.num_classes) : nullptr;
        plan->output = c.num_classes > 0 ? h.logits : h.features;

        if (training) {
            plan->dx = scr(rows * D);
            layers::BlockScratch& s = plan->block_scratch;
            s.dbranch = scr(rows * D);
            s.dln = scr(rows * D);
            s.dqkv = mixed ? nullptr : scr(rows * 3 * I);  // mixed: bf16, in dout_bf16
            s.datty = scr(rows * I);
            s.dgelu = scr(rows * M);
            s.dfc1 = scr(rows * M);
            s.dout_bf16 = scr_bf16(rows * std::max({3 * I, M, D}));
            plan->embed_scratch.dout_bf16 = s.dout_bf16;
            plan->embed_scratch.dpatch_tokens = scr(B * NP * D);
            if (c.patch_norm) {
                plan->embed_scratch.dtokens_normed = scr(B * NP * D);
                plan->embed_scratch.dpatches_normed = scr(B * NP * PD);
            }
            plan->head_scratch.dfeatures = scr(B * (F > D ? F : D));
            plan->head_scratch.dpooled = scr(B * D);
            plan->head_scratch.dtokens = scr(rows * D);
        }
        if (pass == 0) {  // buffers only grow: switching between training and evaluation, or a
                          // smaller last batch, reuses them instead of reallocating and zeroing
            auto grow = [](auto& buffer, int64_t n) {
                if (buffer.size() < n) buffer.resize(n);
            };
            grow(acts_, acts_used);
            grow(scratch_, scratch_used);
            grow(acts_bf16_, acts_bf16_used);
            grow(scratch_bf16_, scratch_bf16_used);
        }
    }
    plan_ = std::move(plan);
}

// The backbone's buffers. Training keeps every unit's standardised weight, convolution output,
// statistics and output, the pooled stem output and each block's output, and the backward's
// scratch. Inference needs each map only until the next block: the units run their GroupNorm in
// place, a block's four maps rotate through four buffers (its input, conv1, conv2, and conv3
// whose buffer the residual sum overwrites and the next block reads), the shortcut has a fifth,
// and all units share one standardised-weight buffer.
template <typename Act, typename Scratch>
void ViT::plan_backbone(Plan& plan, Act&& act, Scratch&& scr) const {
    const ViTConfig& c = config_;
    const int64_t B = plan.batch, G = ViTConfig::kGroupNormGroups;
    const bool training = plan.training;
    layers::BackboneActs& a = plan.backbone;
    const std::vector<BackboneConv> convs = c.backbone_convs();
    std::vector<cpu::ConvShape> shapes;
    int64_t largest_map = 0, largest_weight = 0;
    for (size_t i = 0; i < convs.size(); i++) {
        const BackboneConv& conv = convs[i];
        const cpu::ConvShape s = cpu::same_conv_shape(B, conv.in_channels, conv.in_height, conv.in_width,
                                                      conv.out_channels, conv.kernel, conv.stride, i == 0);
        shapes.push_back(s);
        largest_map = std::max({largest_map, B * s.OH * s.OW * s.O, i > 0 ? B * s.H * s.W * s.C : 0});
        largest_weight = std::max(largest_weight, s.O * s.C * s.kernel * s.kernel);
    }
    float* pool[4] = {};
    float *shared_weight = nullptr, *shortcut = nullptr;
    if (!training) {
        for (float*& buffer : pool) buffer = act(largest_map);
        shortcut = act(largest_map);
        shared_weight = act(largest_weight);
    }
    a.convs.assign(convs.size(), {});
    a.blocks.clear();
    int64_t input = 1;  // inference: the pool buffer holding the current block's input
    for (size_t i = 0; i < convs.size(); i++) {
        const cpu::ConvShape& s = shapes[i];
        const int64_t n = B * s.OH * s.OW * s.O, weight = s.O * s.C * s.kernel * s.kernel;
        layers::ConvNormActs& u = a.convs[i];
        u.weight_std = training ? act(weight) : shared_weight;
        u.weight_rstd = act(s.O);
        u.mean = act(B * G);
        u.rstd = act(B * G);
        if (training) {
            u.conv = act(n);
            u.out = act(n);
        } else {
            // the stem writes pool[0] and pools into pool[1]; conv1..3 follow their block's input
            const ConvRole role = convs[i].role;
            const int64_t step = role == ConvRole::Stem ? 3 : role == ConvRole::Conv1 ? 1 : role == ConvRole::Conv2 ? 2 : 3;
            u.conv = u.out = role == ConvRole::Shortcut ? shortcut : pool[(input + step) % 4];
        }
        if (convs[i].role == ConvRole::Conv3) {
            a.blocks.push_back(training ? act(n) : u.out);
            input = (input + 3) % 4;
        }
        if (i == 0) {
            const cpu::ConvShape pooled = cpu::same_conv_shape(B, s.O, s.OH, s.OW, s.O, 3, 2, false);
            a.pooled = training ? act(B * pooled.OH * pooled.OW * s.O) : pool[1];
        }
    }
    a.features = a.blocks.empty() ? a.pooled : a.blocks.back();
    if (training) {
        plan.images = act(B * c.channels * c.image_height * c.image_width);
        for (float*& map : plan.backbone_scratch.maps) map = scr(largest_map);
        plan.backbone_scratch.dweight_std = scr(largest_weight);
    }
}

}  // namespace vit
