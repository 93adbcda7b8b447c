// Training checkpoints: one safetensors file with the weights (timm names, loadable as a model),
// the optimizer state (tensors under "optimizer."), and metadata holding the recipe, the class
// names and the position in training. Written atomically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vit/optimizer.h"
#include "vit/recipe.h"

namespace vit {

// Where training stands: the next batch of epoch `epoch` (0-based) is `next_batch`; the epoch's
// running sums let a resumed run report the same epoch averages.
struct TrainState {
    int64_t epoch = 0;
    int64_t next_batch = 0;
    int64_t step = 0;
    double epoch_loss_sum = 0.0;
    int64_t epoch_correct = 0;
    int64_t epoch_seen = 0;
};

void save_training_checkpoint(const std::string& path, const ViT& model, Optimizer& optimizer, const Recipe& recipe,
                              const TrainState& state, const std::vector<std::string>& class_names);

// Restores weights and optimizer state into `model` and `optimizer` (built from the same
// recipe) and returns the position. Throws vit::Error when the file is not a training
// checkpoint, or its model or optimizer differs.
TrainState load_training_checkpoint(const std::string& path, ViT& model, Optimizer& optimizer);

// The recipe stored in a training checkpoint.
Recipe recipe_from_checkpoint(const std::string& path);

}  // namespace vit
