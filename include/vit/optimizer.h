// Optimizers over a model's flat parameter and gradient buffers, equal to torch.optim.AdamW,
// torch.optim.Adam and torch.optim.SGD with two parameter groups: weights decay, while biases,
// norms, the class token and the position table do not (ParamInfo::weight_decay).
//
// Example:
//   vit::Optimizer opt(model, {.kind = vit::OptimizerKind::AdamW, .lr = 1e-3f, .weight_decay = 0.05f});
//   model.zero_grad(); ... model.backward(dlogits); opt.step(schedule.lr(step));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vit/buffer.h"
#include "vit/model.h"

namespace vit {

enum class OptimizerKind { AdamW, Adam, SGD };

// "adamw", "adam", "sgd"; parse throws vit::Error listing the valid names.
const char* optimizer_name(OptimizerKind kind);
OptimizerKind parse_optimizer(const std::string& name);

struct OptimizerOptions {
    OptimizerKind kind = OptimizerKind::AdamW;
    float lr = 1e-3f;
    float beta1 = 0.9f;        // Adam(W)
    float beta2 = 0.999f;      // Adam(W)
    float eps = 1e-8f;         // Adam(W)
    float weight_decay = 0.01f;
    float momentum = 0.9f;     // SGD
    bool nesterov = false;     // SGD
};

// A range [begin, end) of the model's flat parameter buffer.
struct ParamRange {
    int64_t begin = 0, end = 0;
    int64_t size() const { return end - begin; }
};

class Optimizer {
  public:
    // Throws vit::Error for out-of-range hyper-parameters, naming the option.
    Optimizer(ViT& model, const OptimizerOptions& options);
    // An optimizer of part of the model (ZeRO stage 1: each of N processes keeps the state of
    // and updates 1/N of the parameters): step() updates only the values in `owned`, whose state
    // alone it holds, and leaves the bf16 weight copies to the caller, who first gathers the
    // other parts.
    Optimizer(ViT& model, const OptimizerOptions& options, ParamRange owned);
    // One update with the model's current gradients at learning rate `lr` (options().lr if < 0).
    // Frozen parameters are skipped (their state and step count stay as they are), as PyTorch
    // skips parameters without gradients.
    void step(float lr = -1.0f);
    int64_t steps() const { return step_; }
    // Sets the step count of the optimizer and of every parameter.
    void set_steps(int64_t steps);
    // Per-parameter step counts (Adam's bias correction uses them), parallel to model.params();
    // they differ from steps() only for parameters that were frozen for a while.
    const std::vector<int64_t>& param_steps() const { return param_steps_; }
    void set_param_steps(std::vector<int64_t> steps);
    // Flags parallel to model.params(); true: not updated.
    void set_frozen(std::vector<bool> frozen);
    // Zeroes the gradients of frozen parameters, so that gradient clipping sees only the
    // trainable ones (PyTorch's frozen parameters have no gradient).
    void drop_frozen_gradients();
    const OptimizerOptions& options() const { return options_; }
    // The state buffers by name ("exp_avg", "exp_avg_sq" or "momentum_buffer"), each parallel
    // to the owned parameters, for checkpoints.
    std::vector<std::pair<std::string, FloatBuffer*>> state();
    ParamRange owned() const { return owned_; }

  private:
    ViT& model_;
    OptimizerOptions options_;
    ParamRange owned_;
    FloatBuffer first_, second_;
    int64_t step_ = 0;
    std::vector<int64_t> param_steps_;
    std::vector<bool> frozen_;
};

// Scales the model's gradients so their global L2 norm is at most max_norm (as
// torch.nn.utils.clip_grad_norm_) and returns the norm before clipping.
double clip_grad_norm(ViT& model, double max_norm);

}  // namespace vit
