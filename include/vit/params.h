// The parameter table: every weight of a ViT with its timm name, shape and place in one flat
// buffer. Allocation, initialisation, loading, saving and the optimizer are all driven by it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vit/config.h"

namespace vit {

enum class Init { Zeros, Ones, TruncNormal02, ClassToken };

struct ParamInfo {
    std::string name;             // timm name, e.g. "blocks.0.attn.qkv.weight"
    std::vector<int64_t> shape;   // PyTorch shape, e.g. {2304, 768}
    int64_t offset = 0;           // in floats, into the flat parameter buffer
    int64_t numel = 0;
    bool weight_decay = true;     // false for biases, norms, class token, position table
    Init init = Init::Zeros;
};

// Builds the table for a validated config, in timm's state-dict order.
std::vector<ParamInfo> param_table_build(const ViTConfig& config);

// "[2304, 768]"
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace vit
