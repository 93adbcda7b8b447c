// ViT forward and backward orchestration: the parameter table gives every weight a place in
// one flat buffer; an activation plan gives every intermediate a place in another. forward is a
// straight list of layer calls, backward the same list reversed.
#include "vit/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernels.h"
#include "model/plan.h"
#include "vit/error.h"
#include "vit/rng.h"

namespace vit {

ViT::ViT(const ViTConfig& config, WeightStorage storage) : config_(config), storage_(storage) {
    config_.validate();
    table_ = param_table_build(config_);
    int64_t total = 0;
    for (const ParamInfo& p : table_) total = std::max(total, p.offset + (p.numel + 15) / 16 * 16);
    if (storage_ == WeightStorage::Bf16Matrices && !cpu::bf16_products_supported()) {
        fail("bf16 weight storage needs bf16 matrix products, which oneDNN does not provide on this CPU; use fp32");
    }
    try {
        if (storage_ == WeightStorage::Bf16Matrices) {
            precision_ = Precision::BF16;
            params_.resize(param_fp32_prefix(table_));
            params_bf16_.resize(total);
        } else {
            params_.resize(total);
        }
    } catch (const std::bad_alloc&) {
        fail("out of memory: the model's {} parameters need {:.2f} GiB", num_parameters(),
             static_cast<double>(total) * sizeof(float) / double(1 << 30));
    }
    backends_ = std::make_unique<Backends>();
    if (precision_ == Precision::BF16) {
        backends_->bf16 = std::make_unique<layers::CpuBf16Ops>();
    }
    build_views();
}

layers::Ops& ViT::ops() {
    if (precision_ == Precision::BF16) {
        return *backends_->bf16;
    }
    return backends_->f32;
}

layers::Ops& ViT::f32_ops() { return backends_->f32; }

bool ViT::holds_fp32(const ParamInfo& p) const {
    return (storage_ == WeightStorage::F32 || !runs_in_bf16(p)) && !is_packed(p);
}

bool ViT::is_packed(const ParamInfo& p) const { return packed_.contains(p.name); }

void ViT::set_param(const ParamInfo& p, const float* values) {
    if (packed_for_inference_) {
        fail("parameter '{}' cannot be written: the model's weights are packed for inference", p.name);
    }
    if (holds_fp32(p)) {
        std::copy_n(values, p.numel, params_.data() + p.offset);
    }
    if (!params_bf16_.empty() && runs_in_bf16(p)) {  // the bf16 copy (or, under Bf16Matrices, the weight)
        cpu::round_to_bf16(params_bf16_.data() + p.offset, values, p.numel);
    }
}

float* ViT::param(std::string_view name) {
    const ParamInfo& p = param_info(name);
    if (is_packed(p)) {
        fail("parameter '{}' is packed for inference", name);
    }
    if (!holds_fp32(p)) {
        fail("parameter '{}' is held in bf16 only (bf16 weight storage)", name);
    }
    return param_data() + p.offset;
}

ViT::~ViT() = default;

const char* precision_name(Precision p) { return p == Precision::BF16 ? "bf16" : "fp32"; }

Precision parse_precision(const std::string& name) {
    if (name == "fp32") return Precision::F32;
    if (name == "bf16") return Precision::BF16;
    fail("unknown precision '{}' (expected one of: fp32, bf16)", name);
}

bool bf16_supported() { return cpu::bf16_products_supported(); }

void ViT::set_precision(Precision precision) {
    if (precision == precision_) {
        return;
    }
    if (storage_ == WeightStorage::Bf16Matrices) {
        fail("a model with bf16 weight storage runs in bf16 only");
    }
    if (packed_for_inference_) {
        fail("a model packed for inference keeps the precision it was packed in");
    }
    if (precision == Precision::BF16 && !cpu::bf16_products_supported()) {
        fail("precision bf16 needs bf16 matrix products, which oneDNN does not provide on this CPU; use fp32");
    }
    precision_ = precision;
    if (precision == Precision::BF16) {
        params_bf16_.resize(params_.size());
        backends_->bf16 = std::make_unique<layers::CpuBf16Ops>();
        update_bf16_weights();
    } else {
        params_bf16_ = {};
        backends_->bf16.reset();
    }
    plan_.reset();
    build_views();
}

void ViT::update_bf16_weights() {
    if (precision_ != Precision::BF16 || storage_ == WeightStorage::Bf16Matrices) {
        return;
    }
    for (const ParamInfo& p : table_) {
        if (runs_in_bf16(p)) {
            cpu::round_to_bf16(params_bf16_.data() + p.offset, params_.data() + p.offset, p.numel);
        }
    }
}

int64_t ViT::num_parameters() const {
    int64_t n = 0;
    for (const ParamInfo& p : table_) {
        n += p.numel;
    }
    return n;
}

float* ViT::grad_data() {
    if (storage_ == WeightStorage::Bf16Matrices) {
        fail("a model with bf16 weight storage is for inference; training needs fp32 weights");
    }
    if (packed_for_inference_) {
        fail("a model packed for inference cannot train");
    }
    if (grads_.empty()) {
        grads_.resize(params_.size());
        build_views();
    }
    return grads_.data();
}

void ViT::zero_grad() { grads_.zero(); }

void ViT::pack_for_inference() {
    if (packed_for_inference_) {
        return;
    }
    const bool bf16 = storage_ == WeightStorage::Bf16Matrices;
    if (!bf16 && precision_ != Precision::F32) {
        fail("packing for inference needs fp32 precision or bf16 weight storage");
    }
    std::vector<char> plain;
    for (const ParamInfo& p : table_) {
        if (!runs_in_bf16(p)) {
            continue;  // the packed products are those of the patch projection and the blocks
        }
        const int64_t N = p.shape[0], K = p.numel / N;
        const int64_t bytes = p.numel * (bf16 ? 2 : 4);
        if (cpu::packed_weight_bytes(K, N, bf16) != bytes) {
            continue;  // its blocked layout is padded: keep the plain one
        }
        void* w = bf16 ? static_cast<void*>(params_bf16_.data() + p.offset) : params_.data() + p.offset;
        plain.assign(static_cast<char*>(w), static_cast<char*>(w) + bytes);
        cpu::pack_weight(w, plain.data(), K, N, bf16);
        packed_.insert(p.name);
    }
    packed_for_inference_ = true;
    build_views();
}

const ParamInfo& ViT::param_info(std::string_view name) const {
    for (const ParamInfo& p : table_) {
        if (p.name == name) {
            return p;
        }
    }
    fail("no parameter named '{}' in this model", name);
}

void ViT::init_weights(uint64_t seed) {
    Rng rng(seed);
    std::vector<float> values;
    for (const ParamInfo& p : table_) {
        values.resize(static_cast<size_t>(p.numel));
        const double fan_out_std =
            p.shape.size() == 4 ? std::sqrt(2.0 / static_cast<double>(p.numel / p.shape[1])) : 0.0;
        float* w = values.data();
        for (int64_t i = 0; i < p.numel; i++) {
            switch (p.init) {
                case Init::Zeros: w[i] = 0.0f; break;
                case Init::Ones: w[i] = 1.0f; break;
                case Init::TruncNormal02: w[i] = static_cast<float>(rng.truncated_normal(0.02, 2.0)); break;
                case Init::ClassToken: w[i] = static_cast<float>(rng.normal() * 1e-6); break;
                case Init::KaimingFanOut: w[i] = static_cast<float>(rng.normal() * fan_out_std); break;
                case Init::LayerScale: w[i] = config_.init_values; break;
            }
        }
        set_param(p, w);
    }
}

int64_t ViT::activation_bytes() const {
    const int64_t backend_scratch =
        backends_->f32.scratch_bytes() + (backends_->bf16 ? backends_->bf16->scratch_bytes() : 0);
    return static_cast<int64_t>(sizeof(float)) * (acts_.size() + scratch_.size()) + backend_scratch;
}

// ---- parameter views --------------------------------------------------------------------------

// Parameter pointers into params_, gradient pointers into grads_ (nullptr until gradients are
// allocated) and the matrices' bf16 copies in params_bf16_ (nullptr in fp32), at table offsets.
void ViT::build_views() {
    const ViT& m = *this;
    float* grads = grads_.empty() ? nullptr : grads_.data();
    const bf16* weights_bf16 = params_bf16_.empty() ? nullptr : params_bf16_.data();
    const ViTConfig& c = m.config();
    auto p = [&](const std::string& name) -> const float* { return m.param_data() + m.param_info(name).offset; };
    auto g = [&](const std::string& name) -> float* {
        return grads != nullptr ? grads + m.param_info(name).offset : nullptr;
    };
    auto linear = [&](const std::string& prefix, int64_t in, int64_t out, bool bias) {
        layers::Linear l;
        const ParamInfo& weight = m.param_info(prefix + ".weight");
        // fp32 values at the table offset, plain or packed, unless the matrix is kept in bf16 only
        const bool fp32_weight = m.weight_storage() == WeightStorage::F32 || !runs_in_bf16(weight);
        l.weight = fp32_weight ? m.param_data() + weight.offset : nullptr;
        l.dweight = grads != nullptr ? grads + weight.offset : nullptr;
        if (weights_bf16 != nullptr && runs_in_bf16(weight)) {
            l.weight_bf16 = weights_bf16 + weight.offset;
        }
        l.packed = m.is_packed(weight);
        if (bias) {
            l.bias = p(prefix + ".bias");
            l.dbias = g(prefix + ".bias");
        }
        l.in = in;
        l.out = out;
        return l;
    };
    auto norm = [&](const std::string& prefix, int64_t dim) {
        return layers::Norm{p(prefix + ".weight"), p(prefix + ".bias"), g(prefix + ".weight"),
                            g(prefix + ".bias"), dim, c.layernorm_eps};
    };
    const int64_t D = c.embed_dim, I = c.inner_dim();
    views_ = std::make_unique<Views>();
    Views& v = *views_;
    for (const BackboneConv& conv : c.backbone_convs()) {
        layers::ConvNorm u;
        u.weight = p(conv.conv + ".weight");
        u.dweight = g(conv.conv + ".weight");
        u.norm = layers::Norm{p(conv.norm + ".weight"), p(conv.norm + ".bias"), g(conv.norm + ".weight"),
                              g(conv.norm + ".bias"), conv.out_channels, ViTConfig::kGroupNormEps};
        u.in = conv.in_channels;
        u.out = conv.out_channels;
        u.kernel = conv.kernel;
        u.stride = conv.stride;
        u.in_height = conv.in_height;
        u.in_width = conv.in_width;
        u.relu = conv.relu;
        u.shortcut = conv.role == ConvRole::Shortcut;
        v.backbone.convs.push_back(u);
    }
    v.backbone.groups = ViTConfig::kGroupNormGroups;
    v.backbone.std_eps = ViTConfig::kStdConvEps;
    layers::EmbeddingParams& e = v.embed;
    e.channels = c.embed_in_channels();
    e.image_height = c.embed_in_height();
    e.image_width = c.embed_in_width();
    e.nhwc_input = c.hybrid;
    e.patch = c.patch_size;
    e.patch_norm = c.patch_norm;
    if (c.patch_norm) {
        e.norm_pre = norm("patch_embed.norm_pre", c.patch_dim());
        e.norm = norm("patch_embed.norm", D);
    }
    e.proj = linear("patch_embed.proj", c.patch_dim(), D, true);
    e.cls_token = p("cls_token");
    e.dcls_token = g("cls_token");
    switch (c.pos_embed) {
        case PosEmbed::None: e.positions = layers::Positions::None; break;
        case PosEmbed::Learned1d:
            e.positions = layers::Positions::Learned;
            e.pos_embed = p("pos_embed");
            e.dpos_embed = g("pos_embed");
            break;
        case PosEmbed::Learned2d:
            e.positions = layers::Positions::PerAxis;
            e.pos_row = p("pos_embed_row");
            e.pos_col = p("pos_embed_col");
            e.dpos_row = g("pos_embed_row");
            e.dpos_col = g("pos_embed_col");
            break;
        case PosEmbed::SinCos2d:
            e.positions = layers::Positions::Fixed;
            v.fixed_pos_embed.resize(static_cast<size_t>(c.num_tokens() * D));
            cpu::pos_embed_sincos_2d(v.fixed_pos_embed.data(), c.grid_height(), c.grid_width(), D);
            e.pos_embed = v.fixed_pos_embed.data();
            break;
    }
    e.drop = c.drop_rate;
    for (int64_t i = 0; i < c.depth; i++) {
        const std::string pre = fmt::format("blocks.{}.", i);
        layers::BlockParams b;
        b.index = i;
        b.heads = c.num_heads;
        b.head_size = c.head_size();
        b.activation = c.mlp_relu               ? cpu::Activation::Relu
                       : c.gelu == Gelu::Tanh ? cpu::Activation::GeluTanh
                                              : cpu::Activation::GeluErf;
        b.drop = c.drop_rate;
        b.attn_drop = c.attn_drop_rate;
        b.drop_path = c.drop_path_at(i);
        b.norm1 = norm(pre + "norm1", D);
        b.qkv = linear(pre + "attn.qkv", D, 3 * I, c.qkv_bias);
        b.proj = linear(pre + "attn.proj", I, D, true);
        b.norm2 = norm(pre + "norm2", D);
        b.fc1 = linear(pre + "mlp.fc1", D, c.mlp_dim, true);
        b.fc2 = linear(pre + "mlp.fc2", c.mlp_dim, D, true);
        b.layer_scale = c.init_values > 0.0f;
        if (b.layer_scale) {
            b.ls1 = {p(pre + "ls1.gamma"), g(pre + "ls1.gamma")};
            b.ls2 = {p(pre + "ls2.gamma"), g(pre + "ls2.gamma")};
        }
        v.blocks.push_back(b);
    }
    layers::HeadParams& h = v.head;
    h.mean_pool = c.pool == Pool::Mean;
    h.fc_norm = c.fc_norm;
    h.has_norm = c.final_norm();
    if (h.has_norm) {
        h.norm = norm(c.fc_norm ? "fc_norm" : "norm", D);
    }
    h.has_pre_logits = c.pre_logits_dim > 0;
    if (h.has_pre_logits) {
        h.pre_logits = linear("pre_logits.fc", D, c.pre_logits_dim, true);
    }
    h.has_classifier = c.num_classes > 0;
    if (h.has_classifier) {
        h.classifier = linear("head", c.feature_dim(), c.num_classes, true);
    }
}

// ---- forward and backward ---------------------------------------------------------------------

const float* ViT::forward(const float* images, int64_t B, const ForwardOptions& options) {
    if (B < 1 || B > (int64_t{1} << 20)) {
        fail("batch size must be in [1, 1048576], got {}", B);
    }
    if (options.training && packed_for_inference_) {
        fail("a model packed for inference cannot train");
    }
    plan_activations(B, options.training, options.keep_attention);
    plan_->masks = {.seed = options.dropout_seed, .first_sample = options.first_sample};
    const Views& v = *views_;
    layers::Ops& o = ops();
    const int64_t N = config_.num_tokens();

    const float* embed_in = images;
    if (config_.hybrid) {
        if (plan_->images != nullptr) {
            std::copy_n(images, B * config_.channels * config_.image_height * config_.image_width, plan_->images);
        }
        layers::backbone_forward(v.backbone, plan_->backbone, images, B);
        embed_in = plan_->backbone.features;
    }
    layers::embedding_forward(o, v.embed, plan_->embed, embed_in, B, options.training, plan_->masks);
    float* x = plan_->embed.x;
    for (size_t l = 0; l < v.blocks.size(); l++) {
        const layers::BlockParams& p = v.blocks[l];
        if (!options.training) {  // the residual stream x updated in place
            if (config_.post_norm) {
                layers::post_norm_block_inference(o, p, plan_->inference, x, plan_->probs[l], B, N);
            } else {
                layers::pre_norm_block_inference(o, p, plan_->inference, x, plan_->probs[l], B, N);
            }
            continue;
        }
        const layers::BlockActs& a = plan_->blocks[l];
        if (config_.post_norm) {
            layers::post_norm_block_forward(o, p, a, x, B, N, plan_->masks);
        } else {
            layers::pre_norm_block_forward(o, p, a, x, B, N, plan_->masks);
        }
        x = a.x_out;
    }
    layers::head_forward(f32_ops(), v.head, plan_->head, x, B, N, config_.embed_dim);
    return plan_->output;
}

const float* ViT::attention(int64_t layer) const {
    if (!plan_ || !(plan_->keep_attention || plan_->training)) {
        fail("attention probabilities were not kept; run forward with keep_attention");
    }
    if (layer < 0 || layer >= config_.depth) {
        fail("attention layer must be in [0, {}), got {}", config_.depth, layer);
    }
    const size_t l = static_cast<size_t>(layer);
    return plan_->training ? plan_->blocks[l].probs : plan_->probs[l];
}

void ViT::backward(const float* doutput) { backward(doutput, [](int64_t) {}); }

void ViT::backward(const float* doutput, const std::function<void(int64_t block)>& block_done) {
    if (!plan_ || !plan_->training) {
        fail("backward needs a forward pass with training = true before it");
    }
    grad_data();  // allocates the gradients (and their views) on first use
    const Views& v = *views_;
    layers::Ops& o = ops();
    const int64_t B = plan_->batch, N = config_.num_tokens(), D = config_.embed_dim;
    const layers::MaskKey& masks = plan_->masks;
    float* dx = plan_->dx;
    o.zero(dx, B * N * D);

    const float* x_last = config_.depth > 0 ? plan_->blocks.back().x_out : plan_->embed.x;
    layers::head_backward(f32_ops(), v.head, plan_->head, plan_->head_grads, dx, doutput, x_last, B, N, D);
    for (int64_t l = config_.depth - 1; l >= 0; l--) {
        const size_t i = static_cast<size_t>(l);
        if (config_.post_norm) {
            layers::post_norm_block_backward(o, v.blocks[i], plan_->blocks[i], plan_->block_grads, dx, B, N, masks);
        } else {
            const float* x_in = l == 0 ? plan_->embed.x : plan_->blocks[i - 1].x_out;
            layers::pre_norm_block_backward(o, v.blocks[i], plan_->blocks[i], plan_->block_grads, dx, x_in, B, N, masks);
        }
        block_done(l);
    }
    layers::embedding_backward(o, v.embed, plan_->embed, plan_->embed_grads, dx, B, masks);
    if (config_.hybrid) {
        layers::backbone_backward(v.backbone, plan_->backbone, plan_->backbone_scratch, plan_->embed_grads.dmaps,
                                  plan_->images, B);
    }
}

}  // namespace vit
