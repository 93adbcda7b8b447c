// The hybrid's ResNet-v2 backbone (timm's ResNetV2 with preact=False, as in vit_*_r*):
//   stem:        x = MaxPool3x3s2(ReLU(GN(StdConv7x7s2(image))))
//   bottleneck:  y = ReLU(GN3(conv3(ReLU(GN2(conv2(ReLU(GN1(conv1(x))))))) + shortcut(x)),
//                shortcut = GN(conv1x1(x)) in a stage's first block (the stride is on conv2 and
//                the shortcut's convolution), identity after.
// Every convolution is weight-standardised (StdConv2dSame) with TF "same" padding; feature maps
// are channel-last [B, H, W, C]. It runs in fp32 at either model precision.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernels.h"
#include "layers/layers.h"

namespace vit::layers {

// One StdConv2dSame and the GroupNorm(Act) after it.
struct ConvNorm {
    const float* weight = nullptr;  // [O, C, k, k]
    float* dweight = nullptr;
    Norm norm;                      // GroupNorm's per-channel weight and bias (eps = norm.eps)
    int64_t in = 0, out = 0, kernel = 1, stride = 1, in_height = 0, in_width = 0;
    bool relu = true;
    bool shortcut = false;          // a block's downsampling shortcut
    cpu::ConvShape shape(int64_t B, bool nchw_input) const {
        return cpu::same_conv_shape(B, in, in_height, in_width, out, kernel, stride, nchw_input);
    }
};

struct ConvNormActs {
    float* weight_std = nullptr;  // [O, C*k*k]: the standardised weight the convolution used
    float* weight_rstd = nullptr; // [O]
    float* conv = nullptr;        // [B, OH, OW, O]
    float* mean = nullptr;        // [B, groups]
    float* rstd = nullptr;        // [B, groups]
    float* out = nullptr;         // [B, OH, OW, O]: after the norm (and ReLU)
};

struct BackboneParams {
    std::vector<ConvNorm> convs;  // stem, then per block [shortcut,] conv1, conv2, conv3
    int64_t groups = 32;
    float std_eps = 1e-8f;
};

struct BackboneActs {
    std::vector<ConvNormActs> convs;  // parallel to BackboneParams::convs
    float* pooled = nullptr;          // [B, H/4, W/4, width]: the stem's output
    std::vector<float*> blocks;       // per bottleneck block, its output y
    float* features = nullptr;        // the last of those (pooled without stages)
};

// Four buffers of the largest feature map (B x max H*W*C), and one of the largest weight.
struct BackboneScratch {
    float* maps[4] = {};
    float* dweight_std = nullptr;
};

// images[B, C, H, W] -> a.features.
void backbone_forward(const BackboneParams& p, const BackboneActs& a, const float* images, int64_t B);
// Parameter gradients from dfeatures (the gradient of a.features), added into the dweights.
void backbone_backward(const BackboneParams& p, const BackboneActs& a, const BackboneScratch& s,
                       const float* dfeatures, const float* images, int64_t B);

}  // namespace vit::layers
