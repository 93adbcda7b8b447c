// Optimizers stepping the whole model one parameter tensor at a time (each tensor knows whether
// it decays), and global-norm gradient clipping.
#include "vit/optimizer.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"
#include "vit/error.h"

namespace vit {

const char* optimizer_name(OptimizerKind kind) {
    switch (kind) {
        case OptimizerKind::AdamW: return "adamw";
        case OptimizerKind::Adam: return "adam";
        case OptimizerKind::SGD: return "sgd";
    }
    return "?";
}

OptimizerKind parse_optimizer(const std::string& name) {
    for (OptimizerKind k : {OptimizerKind::AdamW, OptimizerKind::Adam, OptimizerKind::SGD}) {
        if (name == optimizer_name(k)) return k;
    }
    fail("unknown optimizer '{}' (expected one of: adamw, adam, sgd)", name);
}

Optimizer::Optimizer(ViT& model, const OptimizerOptions& o) : Optimizer(model, o, {0, model.param_buffer_size()}) {}

Optimizer::Optimizer(ViT& model, const OptimizerOptions& o, ParamRange owned)
    : model_(model), options_(o), owned_(owned) {
    if (owned.begin < 0 || owned.end < owned.begin || owned.end > model.param_buffer_size()) {
        fail("optimizer: the range [{}, {}) is not part of the {} parameters", owned.begin, owned.end,
             model.param_buffer_size());
    }
    param_steps_.assign(model.params().size(), 0);
    frozen_.assign(model.params().size(), false);
    const char* name = optimizer_name(o.kind);
    if (!(o.lr >= 0.0f && o.lr < 10.0f)) fail("{} lr must be in [0, 10), got {}", name, o.lr);
    if (!(o.weight_decay >= 0.0f && o.weight_decay < 10.0f)) {
        fail("{} weight_decay must be in [0, 10), got {}", name, o.weight_decay);
    }
    if (o.kind == OptimizerKind::SGD) {
        if (!(o.momentum >= 0.0f && o.momentum < 1.0f)) fail("sgd momentum must be in [0, 1), got {}", o.momentum);
        if (o.nesterov && o.momentum == 0.0f) fail("sgd nesterov needs a momentum > 0");
        first_.resize(owned.size());
        return;
    }
    if (!(o.beta1 >= 0.0f && o.beta1 < 1.0f)) fail("{} beta1 must be in [0, 1), got {}", name, o.beta1);
    if (!(o.beta2 >= 0.0f && o.beta2 < 1.0f)) fail("{} beta2 must be in [0, 1), got {}", name, o.beta2);
    if (!(o.eps > 0.0f)) fail("{} eps must be positive, got {}", name, o.eps);
    first_.resize(owned.size());
    second_.resize(owned.size());
}

void Optimizer::set_steps(int64_t steps) {
    step_ = steps;
    std::fill(param_steps_.begin(), param_steps_.end(), steps);
}

void Optimizer::set_param_steps(std::vector<int64_t> steps) {
    if (steps.size() != param_steps_.size()) {
        fail("optimizer: {} per-parameter step counts given for {} parameters", steps.size(), param_steps_.size());
    }
    param_steps_ = std::move(steps);
}

void Optimizer::set_frozen(std::vector<bool> frozen) {
    if (frozen.size() != frozen_.size()) {
        fail("optimizer: {} frozen flags given for {} parameters", frozen.size(), frozen_.size());
    }
    frozen_ = std::move(frozen);
}

std::vector<std::pair<std::string, FloatBuffer*>> Optimizer::state() {
    if (options_.kind == OptimizerKind::SGD) {
        return {{"momentum_buffer", &first_}};
    }
    return {{"exp_avg", &first_}, {"exp_avg_sq", &second_}};
}

void Optimizer::drop_frozen_gradients() {
    for (size_t i = 0; i < frozen_.size(); i++) {
        if (frozen_[i]) {
            const ParamInfo& p = model_.params()[i];
            std::fill_n(model_.grad_data() + p.offset, p.numel, 0.0f);
        }
    }
}

void Optimizer::step(float lr) {
    step_++;
    const float rate = lr >= 0.0f ? lr : options_.lr;
    const OptimizerOptions& o = options_;
    float* params = model_.param_data();
    const float* grads = model_.grad_data();
    for (size_t i = 0; i < model_.params().size(); i++) {
        if (frozen_[i]) continue;
        const ParamInfo& p = model_.params()[i];
        const int64_t t = ++param_steps_[i];
        // the values of this tensor the optimizer owns (all of them, unless it owns a part)
        const int64_t begin = std::max(p.offset, owned_.begin), end = std::min(p.offset + p.numel, owned_.end);
        if (begin >= end) continue;
        const float wd = p.weight_decay ? o.weight_decay : 0.0f;
        float* param = params + begin;
        const float* grad = grads + begin;
        float* first = first_.data() + (begin - owned_.begin);
        if (o.kind == OptimizerKind::SGD) {
            cpu::sgd_update(param, grad, first, end - begin, rate, o.momentum, wd, o.nesterov, t == 1);
        } else {
            cpu::adam_update(param, grad, first, second_.data() + (begin - owned_.begin), end - begin, rate, o.beta1,
                             o.beta2, o.eps, wd, o.kind == OptimizerKind::AdamW, t);
        }
    }
    if (owned_.size() == model_.param_buffer_size()) {
        model_.update_bf16_weights();  // the copies the next mixed-precision step multiplies
    }
}

double clip_grad_norm(ViT& model, double max_norm) {
    float* grads = model.grad_data();
    const double norm = std::sqrt(cpu::sum_of_squares(grads, model.param_buffer_size()));
    // torch: clip_coef = max_norm / (norm + 1e-6), applied when below 1.
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        cpu::scale(grads, model.param_buffer_size(), static_cast<float>(coef));
    }
    return norm;
}

}  // namespace vit
