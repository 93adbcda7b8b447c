// Fine-tuning from pretrained weights: the model takes its architecture from the checkpoint and
// its input size, channel count, class count and regularisation from the recipe; the head is
// replaced when the class count differs, the position table is resampled to the new grid, a
// 3-channel patch projection is summed over channels for 1-channel input (as timm does), and
// the embeddings and the first k blocks can be frozen.
//
// Example:
//   vit::WeightSource w = vit::open_weights("vit_tiny_patch16_224.pth");
//   vit::ViT model(vit::finetune_config(w, recipe.model));
//   model.init_weights(seed);                       // the new head
//   std::string note = vit::init_from_pretrained(model, w);
//   optimizer.set_frozen(vit::frozen_parameters(model, /*embeddings=*/true, /*blocks=*/6));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vit/config.h"
#include "vit/model.h"
#include "vit/weights.h"

namespace vit {

// The checkpoint's architecture with `target`'s image size, channels, classes and dropout rates;
// num_heads > 0 gives the head count for files that do not record it (config_from_weights).
ViTConfig finetune_config(const WeightSource& weights, const ViTConfig& target, int64_t num_heads = 0);

// Loads every pretrained tensor into `model` (built by finetune_config and initialised), adapting
// what the new task changes; returns a one-line summary of what was replaced. Throws vit::Error
// when anything other than the head is missing or unused.
std::string init_from_pretrained(ViT& model, const WeightSource& weights);

// Flags parallel to model.params(): true for the class token, position table and patch
// embedding (when `embeddings`) and for every tensor of blocks 0 .. blocks-1.
std::vector<bool> frozen_parameters(const ViT& model, bool embeddings, int64_t blocks);

}  // namespace vit
