// AdamW with per-tensor weight decay, stepping the whole model one tensor at a time.
#include "vit/optimizer.h"

#include "kernels/kernels.h"
#include "vit/error.h"

namespace vit {

AdamW::AdamW(ViT& model, const AdamWOptions& o) : model_(model), options_(o) {
    if (!(o.lr >= 0.0f && o.lr < 10.0f)) fail("AdamW lr must be in [0, 10), got {}", o.lr);
    if (!(o.beta1 >= 0.0f && o.beta1 < 1.0f)) fail("AdamW beta1 must be in [0, 1), got {}", o.beta1);
    if (!(o.beta2 >= 0.0f && o.beta2 < 1.0f)) fail("AdamW beta2 must be in [0, 1), got {}", o.beta2);
    if (!(o.eps > 0.0f)) fail("AdamW eps must be positive, got {}", o.eps);
    if (!(o.weight_decay >= 0.0f && o.weight_decay < 10.0f)) {
        fail("AdamW weight_decay must be in [0, 10), got {}", o.weight_decay);
    }
    m_.resize(model.param_buffer_size());
    v_.resize(model.param_buffer_size());
}

void AdamW::step(float lr) {
    step_++;
    const float rate = lr >= 0.0f ? lr : options_.lr;
    float* params = model_.param_data();
    const float* grads = model_.grad_data();
    for (const ParamInfo& p : model_.params()) {
        cpu::adamw_update(params + p.offset, grads + p.offset, m_.data() + p.offset,
                          v_.data() + p.offset, p.numel, rate, options_.beta1, options_.beta2,
                          options_.eps, p.weight_decay ? options_.weight_decay : 0.0f, step_);
    }
}

}  // namespace vit
