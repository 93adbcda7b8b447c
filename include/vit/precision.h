// The precision a model computes in, from the command line (--precision) to the kernels.
#pragma once

#include <string>

namespace vit {

// fp32 everywhere, or mixed precision: the Linears of the patch embedding and the encoder
// blocks and attention's products multiply bf16 copies of their weights and inputs with fp32
// accumulation; parameters (the master copy), gradients, norms, softmax, the head and the loss
// stay fp32.
enum class Precision { F32, BF16 };
const char* precision_name(Precision p);             // "fp32" | "bf16"
Precision parse_precision(const std::string& name);  // throws vit::Error naming the choices

}  // namespace vit
