// AdamW over a model's flat parameter and gradient buffers, as torch.optim.AdamW with two
// parameter groups: weights decay, while biases, norms, the class token and the position table
// do not (ParamInfo::weight_decay).
//
// Example:
//   vit::AdamW opt(model, {.lr = 1e-3f, .weight_decay = 0.05f});
//   model.zero_grad(); ... model.backward(dlogits); opt.step();
#pragma once

#include <cstdint>

#include "vit/buffer.h"
#include "vit/model.h"

namespace vit {

struct AdamWOptions {
    float lr = 1e-3f;
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
    float weight_decay = 0.01f;
};

class AdamW {
  public:
    // Throws vit::Error for out-of-range hyper-parameters.
    AdamW(ViT& model, const AdamWOptions& options);
    // One update with the model's current gradients; lr overrides options.lr when >= 0.
    void step(float lr = -1.0f);
    int64_t steps() const { return step_; }
    FloatBuffer& first_moment() { return m_; }
    FloatBuffer& second_moment() { return v_; }

  private:
    ViT& model_;
    AdamWOptions options_;
    FloatBuffer m_, v_;
    int64_t step_ = 0;
};

}  // namespace vit
