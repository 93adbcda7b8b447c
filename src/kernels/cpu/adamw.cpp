// The AdamW update in the exact operation order of torch.optim.AdamW (single-tensor path of
// PyTorch 1.13), so that parameters match PyTorch to rounding after many steps.
#include <cmath>

#include "kernels/kernels.h"

namespace vit::cpu {

void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t step) {
    // Scalars in double, as PyTorch computes them in Python floats.
    const double bias_correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
    const double bias_correction2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
    const float step_size = static_cast<float>(static_cast<double>(lr) / bias_correction1);
    const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
    const float decay = static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay);
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i];
        float p = param[i] * decay;
        float mi = m[i] * beta1 + (1.0f - beta1) * g;
        float vi = v[i] * beta2 + (1.0f - beta2) * g * g;
        float denom = std::sqrt(vi) / bias_correction2_sqrt + eps;
        param[i] = p - step_size * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }
}

}  // namespace vit::cpu
