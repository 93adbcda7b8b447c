// The parameter table: every weight of a ViT with its timm name, shape and place in one flat
// buffer. Allocation, initialisation, loading, saving and the optimizer are all driven by it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vit/config.h"

namespace vit {

// KaimingFanOut: N(0, 2 / (out_channels * kernel^2)), timm's ResNet-v2 convolutions.
enum class Init { Zeros, Ones, TruncNormal02, ClassToken, KaimingFanOut, LayerScale };  // LayerScale: init_values

struct ParamInfo {
    std::string name;             // timm name, e.g. "blocks.0.attn.qkv.weight"
    std::vector<int64_t> shape;   // PyTorch shape, e.g. {2304, 768}
    int64_t offset = 0;           // in floats, into the flat parameter buffer
    int64_t numel = 0;
    bool weight_decay = true;     // false for biases, norms, class token, position table
    Init init = Init::Zeros;
};

// The matrices multiplied in bf16 under mixed precision: the patch projection and the four
// Linears of every block. (The head's products have a few rows per image and stay fp32.)
bool runs_in_bf16(const ParamInfo& p);

// Builds the table for a validated config, in timm's state-dict order. In the flat buffer the
// tensors that do not run in bf16 come first and the bf16 matrices last, so that a model can
// drop the fp32 copies of those (one contiguous tail).
std::vector<ParamInfo> param_table_build(const ViTConfig& config);

// Floats of the flat buffer before the first bf16 matrix.
int64_t param_fp32_prefix(const std::vector<ParamInfo>& table);

// "[2304, 768]"
std::string shape_string(const std::vector<int64_t>& shape);

// The product of the dimensions (1 for a scalar); callers check sizes from files for overflow
// before relying on it.
int64_t shape_numel(const std::vector<int64_t>& shape);

}  // namespace vit
