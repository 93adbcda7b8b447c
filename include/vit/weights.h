// Weights users bring: one view over safetensors (timm or Hugging Face names), PyTorch
// .pth/.pt/.bin files (timm or torchvision names) and JAX .npz files (the original release's
// names), with every tensor renamed and reshaped to timm's names and layouts.
//
// A WeightSource lists tensors by name and shape; each is read (converted to fp32) only when
// asked, straight from the mapped file where the format allows, so loading holds one copy of
// the weights. Formats are recognised by their first bytes, naming schemes by their names.
//
// Example:
//   vit::WeightSource w = vit::open_weights("vit_base_patch16_224.pth");   // timm names now
//   vit::ViT model(vit::config_from_weights(w, {}));
//   vit::load_weights(model, w, {.strict = true});
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vit/safetensors.h"

namespace vit {

enum class WeightFormat { Safetensors, PyTorch, Npz };
enum class NameScheme { Timm, HuggingFace, Torchvision, Jax };
const char* weight_format_name(WeightFormat format);  // "safetensors" | "pytorch" | "npz"
const char* name_scheme_name(NameScheme scheme);      // "timm" | "huggingface" | "torchvision" | "jax"

struct SourceTensor {
    std::string name;
    std::vector<int64_t> shape;
    DType dtype = DType::F32;                  // as stored
    std::function<void(float* dst)> read;      // writes numel() fp32 values
    int64_t numel() const;
};

struct WeightSource {
    std::string path;
    WeightFormat format = WeightFormat::Safetensors;
    NameScheme scheme = NameScheme::Timm;
    std::vector<SourceTensor> tensors;
    std::map<std::string, std::string> metadata;  // safetensors metadata (e.g. "vit.config")
    std::shared_ptr<const void> owner;            // keeps the mapped file alive for `read`

    const SourceTensor* find(std::string_view name) const;  // nullptr when absent
};

// Opens a weight file of any supported format and renames its tensors to timm's scheme.
// Throws vit::Error naming the file and the problem (unknown format, hostile content, a
// tensor that cannot be converted).
WeightSource open_weights(const std::string& path);

// The tensors of an open safetensors file, unrenamed; `file` must outlive the result.
WeightSource view_safetensors(const SafetensorsFile& file);

// Renames and reshapes tensors of another naming scheme (detected from the names) to timm's;
// tensors it does not recognise keep their names. Sets `scheme`.
WeightSource to_timm_names(WeightSource source);

}  // namespace vit
