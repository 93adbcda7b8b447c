// The activation plan of a ViT: every intermediate of a forward (and backward) pass gets a place
// in the model's flat activation and scratch buffers.
#include <algorithm>

#include "kernels/kernels.h"
#include "model/plan.h"
#include "vit/error.h"

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
    const int64_t operand_bytes = ops().operand_bytes();

    auto plan = std::make_unique<Plan>();
    plan->batch = B;
    plan->training = training;
    plan->keep_attention = keep_attention;
    plan->precision = precision_;

    // Two passes over the same list: first count, then hand out pointers.
    for (int pass = 0; pass < 2; pass++) {
        int64_t acts_used = 0, scratch_used = 0;
        auto take = [&](FloatBuffer& buf, int64_t& used, int64_t n) -> float* {
            float* p = pass == 1 ? buf.data() + used : nullptr;
            used += (n + 15) / 16 * 16;  // 64-byte aligned
            return p;
        };
        auto act = [&](int64_t n) { return take(acts_, acts_used, n); };
        auto scr = [&](int64_t n) { return take(scratch_, scratch_used, n); };
        // n elements in the backend's operand type
        auto operand = [&](int64_t n) { return layers::Operand{act((n * operand_bytes + 3) / 4)}; };
        auto stats = [&](int64_t r) { return training ? layers::NormStats{act(r), act(r)} : layers::NormStats{}; };

        if (c.hybrid) {
            plan_backbone(*plan, act, scr);
        }
        layers::EmbeddingActs& e = plan->embed;
        e.patches = act(B * NP * PD);
        if (c.patch_norm) {
            e.patches_normed = act(B * NP * PD);
            e.patches_stats = stats(B * NP);
            e.tokens_normed = act(B * NP * D);
            e.tokens_stats = stats(B * NP);
        }
        e.proj_in = operand(B * NP * PD);
        e.patch_tokens = act(B * NP * D);
        e.pos_table = c.pos_embed == PosEmbed::Learned2d ? act(N * D) : nullptr;
        e.x = act(rows * D);

        if (training) {
            plan->blocks.assign(static_cast<size_t>(c.depth), {});
            for (layers::BlockActs& a : plan->blocks) {
                a.qkv_in = operand(rows * D);
                a.norm1 = stats(rows);
                a.qkv = operand(rows * 3 * I);
                a.probs = act(B * NH * N * N);
                a.atty = operand(rows * I);
                a.branch = act(rows * D);
                a.sum1 = c.post_norm ? act(rows * D) : nullptr;
                a.x_mid = act(rows * D);
                a.fc1_in = operand(rows * D);
                a.norm2 = stats(rows);
                a.fc1 = act(rows * M);
                a.fc2_in = operand(rows * M);
                a.sum2 = c.post_norm ? act(rows * D) : nullptr;
                a.x_out = act(rows * D);
                a.path_scale1 = act(B);
                a.path_scale2 = act(B);
                a.ls1_in = c.init_values > 0.0f ? act(rows * D) : nullptr;
                a.ls2_in = c.init_values > 0.0f ? act(rows * D) : nullptr;
            }
            plan->dx = scr(rows * D);
            plan->block_grads = {scr(rows * D), scr(rows * D), scr(rows * I), scr(rows * M)};
            layers::EmbeddingGrads& eg = plan->embed_grads;
            eg.dpatch_tokens = scr(B * NP * D);
            eg.dtokens_normed = c.patch_norm ? scr(B * NP * D) : nullptr;
            eg.dproj_in = c.patch_norm || c.hybrid ? scr(B * NP * PD) : nullptr;
            eg.dmaps = c.hybrid ? scr(B * NP * PD) : nullptr;
            eg.dpos_table = c.pos_embed == PosEmbed::Learned2d ? scr(N * D) : nullptr;
            plan->head_grads = {scr(B * std::max(F, D)), scr(B * D), scr(rows * D)};
        } else {
            layers::BlockInferenceActs& a = plan->inference;
            a.qkv_in = operand(rows * D);
            a.qkv = operand(rows * 3 * I);
            a.atty = operand(rows * I);
            a.fc1_in = operand(rows * D);
            a.fc2_in = operand(rows * M);
            a.branch = c.post_norm || c.init_values > 0.0f ? act(rows * D) : nullptr;
            a.sum = c.post_norm ? act(rows * D) : nullptr;
            plan->probs.assign(static_cast<size_t>(c.depth), nullptr);
            if (keep_attention) {
                for (float*& p : plan->probs) p = act(B * NH * N * N);
            }
        }
        layers::HeadActs& h = plan->head;
        if (!c.fc_norm && c.final_norm()) {
            h.tokens_normed = act(rows * D);
            h.tokens_stats = stats(rows);
        }
        h.pooled = act(B * D);
        if (c.fc_norm) {
            h.pooled_normed = act(B * D);
            h.pooled_stats = stats(B);
        }
        if (c.pre_logits_dim > 0) {
            h.pre_logits = act(B * F);
        }
        h.features = c.pre_logits_dim > 0 ? h.pre_logits : (c.fc_norm ? h.pooled_normed : h.pooled);
        h.logits = c.num_classes > 0 ? act(B * c.num_classes) : nullptr;
        plan->output = c.num_classes > 0 ? h.logits : h.features;

        if (pass == 0) {  // buffers only grow: switching between training and evaluation, or a
                          // smaller last batch, reuses them instead of reallocating and zeroing
            try {
                if (acts_.size() < acts_used) acts_.resize(acts_used);
                if (scratch_.size() < scratch_used) scratch_.resize(scratch_used);
            } catch (const std::bad_alloc&) {
                fail("out of memory: a {} pass over a batch of {} needs {:.2f} GiB of activations; try a smaller "
                     "batch", training ? "training" : "forward", B,
                     static_cast<double>(acts_used + scratch_used) * sizeof(float) / double(1 << 30));
            }
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
