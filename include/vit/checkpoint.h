// Model weights with timm names: inferring a ViTConfig from a file, loading with shape
// validation (and the position table resampled to the model's grid), saving as safetensors.
//
// Example:
//   vit::WeightSource w = vit::open_weights("vit_tiny.pth");      // any format, see weights.h
//   vit::ViT model(vit::config_from_weights(w));
//   vit::load_weights(model, w, {.strict = true});
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vit/model.h"
#include "vit/safetensors.h"
#include "vit/weights.h"

namespace vit {

// The model config of weights with timm names: their "vit.config" metadata when present,
// otherwise inferred from tensor shapes (embed dim, patch size, channels, depth, MLP size, qkv
// bias, pooling norm, pre-logits, class count; a square image from the position table; heads
// from `num_heads` > 0, else the "vit.num_heads" hint of JAX and Hugging Face files, else timm's
// count for a standard width (192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16), else a guess of
// embed_dim / 64; eps from the "vit.layernorm_eps" hint of Hugging Face files, else 1e-6). Throws
// vit::Error naming what is missing.
ViTConfig config_from_weights(const WeightSource& weights, int64_t num_heads = 0);
ViTConfig config_from_safetensors(const SafetensorsFile& file, int64_t num_heads = 0);
// When config_from_weights can only guess the head count (no config, no hint, no --heads, a
// width none of timm's models has), a note saying so and how to give it; else nothing.
std::optional<std::string> heads_guess_note(const WeightSource& weights, int64_t num_heads = 0);

struct LoadOptions {
    bool strict = true;  // missing or unexpected tensors are errors (else reported and skipped)
};

struct LoadReport {
    std::vector<std::string> missing;     // model parameters the file lacks (left as they were)
    std::vector<std::string> unexpected;  // file tensors the model has no place for
    std::vector<std::string> resampled;   // position tables made for another grid, resampled to the model's
};

// Tensors under this prefix hold a training checkpoint's optimizer state; loading weights
// ignores them.
inline constexpr std::string_view kTrainingStatePrefix = "optimizer.";

// Copies every parameter from the weights, converting F16/BF16/F64 to fp32. A position table
// made for another grid is resampled to the model's (bicubic with antialias, as timm does; the
// source grid comes from "vit.config" metadata, else it must be square). Any other shape
// mismatch is an error naming the tensor, the expected and the found shape.
LoadReport load_weights(ViT& model, const WeightSource& weights, const LoadOptions& options);
LoadReport load_weights(ViT& model, const SafetensorsFile& file, const LoadOptions& options);

// Writes the parameters with metadata {"format": "vit", "format_version": "1", "vit.config": ...}
// atomically (an existing file is replaced only once the new one is complete), followed by
// `extra_tensors` and with `extra_metadata` (training checkpoints).
void save_weights(const ViT& model, const std::string& path, const std::vector<TensorToWrite>& extra_tensors = {},
                  const std::map<std::string, std::string>& extra_metadata = {});

}  // namespace vit
