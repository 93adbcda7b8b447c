// ViT: a Vision Transformer whose parameters, gradients and activations live in planned flat
// buffers named by timm's parameter names.
//
// Example:
//   vit::ViT model(vit::preset("vit_tiny_patch16_224"));
//   model.init_weights(/*seed=*/0);
//   std::vector<float> images(2 * 3 * 224 * 224);         // [B, C, H, W], normalised
//   const float* logits = model.forward(images.data(), /*batch=*/2, {});  // [2, 1000]
//
//   // training step
//   model.zero_grad();
//   logits = model.forward(images.data(), 2, {.training = true, .dropout_seed = step});
//   vit::Loss loss = vit::cross_entropy(logits, targets, 2, 1000, /*smoothing=*/0.1f);
//   model.backward(loss.dlogits.data());                   // gradients in model.grad_data()
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "vit/buffer.h"
#include "vit/config.h"
#include "vit/params.h"
#include "vit/precision.h"

namespace vit {

namespace layers {
class Ops;
}

bool bf16_supported();  // whether this CPU runs Precision::BF16 (oneDNN's bf16 matrix products)

// Where the matrix weights live. F32: fp32 (with bf16 copies under mixed precision). For
// inference only, Bf16Matrices keeps the patch projection and block Linears in bf16 alone (half
// the memory of ViT-B's weights), converted once when written; such a model runs in bf16, and
// refuses training, fp32 and saving.
enum class WeightStorage { F32, Bf16Matrices };
// The storage an inference-only model at this precision needs: Bf16Matrices for bf16, else F32.
inline WeightStorage inference_storage(Precision p) {
    return p == Precision::BF16 ? WeightStorage::Bf16Matrices : WeightStorage::F32;
}

struct ForwardOptions {
    bool training = false;        // dropout, drop-path and storage for backward
    bool keep_attention = false;  // keep every layer's attention probabilities
    uint64_t dropout_seed = 0;    // masks are a function of (seed, layer, site, sample, element)
    int64_t first_sample = 0;     // the first image's place in the whole batch, when processes
                                  // share a batch: image b draws the masks of sample first_sample + b
};

class ViT {
  public:
    // Validates the config and allocates the parameters (zero until init_weights or loading).
    // Throws vit::Error for Bf16Matrices on a CPU without bf16 products.
    explicit ViT(const ViTConfig& config, WeightStorage storage = WeightStorage::F32);
    ~ViT();
    ViT(const ViT&) = delete;
    ViT& operator=(const ViT&) = delete;

    const ViTConfig& config() const { return config_; }
    const std::vector<ParamInfo>& params() const { return table_; }
    int64_t num_parameters() const;     // sum of numel over the table
    // Writing parameters through param_data() or param() leaves the bf16 copies that
    // mixed-precision products read as they were: call update_bf16_weights() before the next bf16
    // forward (set_param, init_weights, load_weights, set_precision and Optimizer::step do).
    float* param_data() { return params_.data(); }
    const float* param_data() const { return params_.data(); }
    int64_t param_buffer_size() const { return params_.size(); }

    // Precision of later forward and backward passes (fp32 until set). Setting bf16 makes the
    // bf16 copies of the matrices.
    void set_precision(Precision precision);
    // Rounds the fp32 matrices of the patch projection and the blocks into their bf16 copies
    // (nothing in fp32, or under Bf16Matrices storage, where the bf16 values are the weights).
    void update_bf16_weights();
    Precision precision() const { return precision_; }
    WeightStorage weight_storage() const { return storage_; }
    // Whether param_data() + p.offset holds p (false for bf16 matrices under Bf16Matrices, and
    // for matrices packed for inference).
    bool holds_fp32(const ParamInfo& p) const;
    bool is_packed(const ParamInfo& p) const;
    // Writes parameter p from p.numel fp32 values, rounding to bf16 where it is stored so.
    void set_param(const ParamInfo& p, const float* values);
    // Gradient buffer, parallel to param_data(); allocated on first use. Throws vit::Error
    // under Bf16Matrices storage.
    float* grad_data();
    // The parameter or gradient with this timm name; throws vit::Error for an unknown name (and
    // from param() for a parameter not held in fp32).
    const ParamInfo& param_info(std::string_view name) const;
    float* param(std::string_view name);

    // timm's initialisation: truncated normal (std 0.02) weights, zero biases, unit norms,
    // class token N(0, 1e-6^2). Deterministic for a given seed.
    void init_weights(uint64_t seed);

    // images[B, C, H, W] -> output[B, config().output_dim()] (logits, or features when
    // num_classes = 0). The pointer stays valid until the next forward. Throws vit::Error for
    // batch < 1.
    const float* forward(const float* images, int64_t batch, const ForwardOptions& options);

    // Attention probabilities [B, heads, N, N] of one layer from the last forward with
    // keep_attention or training; throws vit::Error otherwise.
    const float* attention(int64_t layer) const;

    // Back-propagates doutput[B, output_dim] through the last forward, which must have been run
    // with training = true. Gradients are added into grad_data().
    void backward(const float* doutput);
    // The same, calling block_done(l) as soon as the gradients of block l's parameters are
    // complete (blocks last to first; the head's are complete before, the embedding's after), so
    // that their sum across processes can start while earlier blocks still back-propagate.
    void backward(const float* doutput, const std::function<void(int64_t block)>& block_done);
    void zero_grad();

    // Bytes held in activation buffers (for memory reports): the largest plan so far, since the
    // buffers only grow.
    int64_t activation_bytes() const;

    // For inference only, from here on: reorders the matrix weights of the patch projection and
    // the blocks, in place, into the blocked layout oneDNN's product kernels read directly, which
    // saves them repacking the weights at every product (fp32 under F32 storage and precision,
    // bf16 under Bf16Matrices). Afterwards training, another precision, writing parameters and
    // saving throw vit::Error. A matrix whose packed form would not fit in place stays as it is.
    void pack_for_inference();
    bool packed_for_inference() const { return packed_for_inference_; }

  private:
    struct Plan;
    struct Views;
    struct Backends;
    void plan_activations(int64_t batch, bool training, bool keep_attention);
    template <typename Act, typename Scratch>
    void plan_backbone(Plan& plan, Act&& act, Scratch&& scr) const;
    // The layers' parameter views; rebuilt when a buffer they point into changes (gradients
    // allocated, bf16 copies made or dropped, weights packed).
    void build_views();
    // The backend of the model's precision, and the fp32 one the head runs on.
    layers::Ops& ops();
    layers::Ops& f32_ops();

    ViTConfig config_;
    WeightStorage storage_ = WeightStorage::F32;
    std::vector<ParamInfo> table_;
    FloatBuffer params_;       // every parameter, or under Bf16Matrices those before the matrices
    FloatBuffer grads_;
    FloatBuffer acts_;
    FloatBuffer scratch_;
    Precision precision_ = Precision::F32;
    Bf16Buffer params_bf16_;   // parallel to params_; the matrix weights of bf16 Linears
    bool packed_for_inference_ = false;
    std::set<std::string, std::less<>> packed_;  // names of the matrices held packed
    std::unique_ptr<Backends> backends_;
    std::unique_ptr<Views> views_;
    std::unique_ptr<Plan> plan_;
};

// Mean softmax cross-entropy over a batch, with label smoothing, and its gradient.
struct Loss {
    float mean = 0.0f;
    std::vector<float> dlogits;  // [B, K]: d mean / d logits
};
// Throws vit::Error for a target outside [0, K).
Loss cross_entropy(const float* logits, const int32_t* targets, int64_t B, int64_t K,
                   float smoothing);
// The same against soft targets [B, K] (Mixup / CutMix, label smoothing already in them): each row
// must be a distribution (values in [0, 1] summing to 1 within 1e-4), else vit::Error.
Loss soft_cross_entropy(const float* logits, const float* targets, int64_t B, int64_t K);

}  // namespace vit
