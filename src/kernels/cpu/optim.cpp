// Optimizer updates in the exact operation order of torch.optim (single-tensor paths of
// PyTorch 1.13), so that parameters match PyTorch to rounding after many steps, and the global
// gradient norm for clipping.
#include <cmath>

#include "kernels/kernels.h"

namespace vit::cpu {

void adam_update(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1,
                 float beta2, float eps, float weight_decay, bool decoupled, int64_t step) {
    // Scalars in double, as PyTorch computes them in Python floats.
    const double bias_correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
    const double bias_correction2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
    const float step_size = static_cast<float>(static_cast<double>(lr) / bias_correction1);
    const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
    const float decay = decoupled ? static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay) : 1.0f;
    const float l2 = decoupled ? 0.0f : weight_decay;
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i] + l2 * param[i];
        float p = param[i] * decay;
        float mi = m[i] * beta1 + (1.0f - beta1) * g;
        float vi = v[i] * beta2 + (1.0f - beta2) * g * g;
        float denom = std::sqrt(vi) / bias_correction2_sqrt + eps;
        param[i] = p - step_size * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }
}

void sgd_update(float* param, const float* grad, float* momentum_buffer, int64_t n, float lr, float momentum,
                float weight_decay, bool nesterov, bool first_step) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float d = grad[i] + weight_decay * param[i];
        if (momentum != 0.0f) {
            float b = first_step ? d : momentum * momentum_buffer[i] + d;
            momentum_buffer[i] = b;
            d = nesterov ? d + momentum * b : b;
        }
        param[i] -= lr * d;
    }
}

double sum_of_squares(const float* x, int64_t n) {
    double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        total += static_cast<double>(x[i]) * x[i];
    }
    return total;
}

void scale(float* x, int64_t n, float factor) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
        x[i] *= factor;
    }
}

}  // namespace vit::cpu
