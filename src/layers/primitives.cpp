// Linear and LayerNorm layers: shape-carrying views over the matmul and layernorm kernels.
#include <stdexcept>

#include "kernels/kernels.h"
#include "layers/layers.h"

namespace vit::layers {

void linear_product(const Linear& l, Epilogue e, float* out, bf16* out_bf16, const float* inp,
                    const bf16* inp_bf16, int64_t rows, cpu::Activation act) {
    if (l.weight_bf16 == nullptr) {
        switch (e) {
            case Epilogue::Write: cpu::matmul_forward(out, inp, l.weight, l.bias, rows, l.in, l.out, l.packed); return;
            case Epilogue::Activate:
                cpu::matmul_activation_forward(out, inp, l.weight, l.bias, rows, l.in, l.out, act, l.packed);
                return;
            case Epilogue::Accumulate:
                cpu::matmul_accumulate_forward(out, inp, l.weight, l.bias, rows, l.in, l.out, l.packed);
                return;
        }
    }
    switch (e) {
        case Epilogue::Write:
            if (out_bf16 != nullptr) {
                cpu::matmul_forward_bf16_out(out_bf16, inp_bf16, l.weight_bf16, l.bias, rows, l.in, l.out, l.packed);
            } else {
                cpu::matmul_forward_bf16(out, inp_bf16, l.weight_bf16, l.bias, rows, l.in, l.out, l.packed);
            }
            return;
        case Epilogue::Activate:
            cpu::matmul_activation_forward_bf16(out_bf16, inp_bf16, l.weight_bf16, l.bias, rows, l.in, l.out, act,
                                                l.packed);
            return;
        case Epilogue::Accumulate:
            cpu::matmul_accumulate_forward_bf16(out, inp_bf16, l.weight_bf16, l.bias, rows, l.in, l.out, l.packed);
            return;
    }
}

void linear_forward(const Linear& l, float* out, const float* inp, bf16* inp_bf16, int64_t rows) {
    if (l.weight_bf16 != nullptr) {
        cpu::round_to_bf16(inp_bf16, inp, rows * l.in);
    }
    linear_product(l, Epilogue::Write, out, nullptr, inp, inp_bf16, rows);
}

void linear_backward(const Linear& l, float* dinp, const float* dout, const float* inp,
                     const bf16* inp_bf16, bf16* dout_bf16, int64_t rows, const float* dout_slope) {
    if (l.weight_bf16 == nullptr) {
        if (dout_slope != nullptr) {
            throw std::logic_error("linear_backward: an output-gradient slope needs bf16 products");
        }
        cpu::matmul_backward(dinp, l.dweight, l.dbias, dout, inp, l.weight, rows, l.in, l.out);
        return;
    }
    cpu::matmul_backward_bf16(dinp, l.dweight, l.dbias, dout, dout_bf16, inp_bf16, l.weight_bf16, rows,
                              l.in, l.out, dout_slope);
}

void linear_backward_products(const Linear& l, float* dinp, const bf16* dout_bf16, const bf16* inp_bf16,
                              int64_t rows) {
    cpu::matmul_backward_bf16(dinp, l.dweight, nullptr, nullptr, const_cast<bf16*>(dout_bf16), inp_bf16,
                              l.weight_bf16, rows, l.in, l.out);
}

void norm_forward(const Norm& n, const NormActs& a, const float* inp, int64_t rows) {
    cpu::layernorm_forward(a.out, a.mean, a.rstd, inp, n.weight, n.bias, rows, n.dim, n.eps);
}

void norm_forward_bf16(const Norm& n, const NormActs& a, bf16* out, const float* inp, int64_t rows) {
    cpu::layernorm_forward_bf16(out, a.mean, a.rstd, inp, n.weight, n.bias, rows, n.dim, n.eps);
}

void norm_backward(const Norm& n, float* dinp, const float* dout, const NormActs& a, const float* inp,
                   int64_t rows) {
    cpu::layernorm_backward(dinp, n.dweight, n.dbias, dout, inp, n.weight, a.mean, a.rstd, rows, n.dim);
}

}  // namespace vit::layers
