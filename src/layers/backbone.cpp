// The hybrid's ResNet-v2 backbone: a straight list of StdConv + GroupNorm units, grouped into the
// stem and bottleneck blocks. ref: timm resnetv2.py (create_resnetv2_stem, Bottleneck) and
// std_conv.py (StdConv2dSame).
#include "layers/backbone.h"

#include <algorithm>

namespace vit::layers {

namespace {

// A bottleneck block: its first unit in BackboneParams::convs and whether that is the shortcut.
struct BlockSpan {
    size_t first = 0;
    bool shortcut = false;
    size_t conv1() const { return first + (shortcut ? 1 : 0); }
};

std::vector<BlockSpan> block_spans(const BackboneParams& p) {
    std::vector<BlockSpan> spans;
    for (size_t i = 1; i < p.convs.size();) {
        spans.push_back({i, p.convs[i].shortcut});
        i += p.convs[i].shortcut ? 4 : 3;
    }
    return spans;
}

int64_t kernel_size(const ConvNorm& c) { return c.in * c.kernel * c.kernel; }

void conv_norm_forward(const BackboneParams& p, const ConvNorm& c, const ConvNormActs& a, const float* inp,
                       int64_t B, bool nchw_input) {
    cpu::standardize_weight_forward(a.weight_std, a.weight_rstd, c.weight, c.out, kernel_size(c), p.std_eps);
    const cpu::ConvShape s = c.shape(B, nchw_input);
    cpu::conv2d_forward(a.conv, inp, a.weight_std, s);
    cpu::groupnorm_forward(a.out, a.mean, a.rstd, a.conv, c.norm.weight, c.norm.bias, B, s.OH * s.OW, c.out,
                           p.groups, c.norm.eps, c.relu);
}

// dinp (written; nullptr for the stem, whose input is the image) from dout, the gradient of a.out.
void conv_norm_backward(const BackboneParams& p, const ConvNorm& c, const ConvNormActs& a, const BackboneScratch& s,
                        float* dinp, const float* dout, const float* inp, int64_t B, bool nchw_input) {
    const cpu::ConvShape shape = c.shape(B, nchw_input);
    float* dconv = s.maps[3];
    cpu::groupnorm_backward(dconv, c.norm.dweight, c.norm.dbias, dout, a.conv, a.out, c.norm.weight, a.mean,
                            a.rstd, B, shape.OH * shape.OW, c.out, p.groups, c.relu);
    cpu::conv2d_backward(dinp, s.dweight_std, dconv, inp, a.weight_std, shape);
    cpu::standardize_weight_backward(c.dweight, s.dweight_std, a.weight_std, a.weight_rstd, c.out, kernel_size(c));
}

cpu::ConvShape pool_shape(const ConvNorm& stem, int64_t B) {
    const cpu::ConvShape s = stem.shape(B, true);
    return cpu::same_conv_shape(B, stem.out, s.OH, s.OW, stem.out, 3, 2, false);
}

int64_t map_size(const cpu::ConvShape& s) { return s.B * s.OH * s.OW * s.O; }

}  // namespace

void backbone_forward(const BackboneParams& p, const BackboneActs& a, const float* images, int64_t B) {
    conv_norm_forward(p, p.convs[0], a.convs[0], images, B, true);
    cpu::maxpool_forward(a.pooled, a.convs[0].out, pool_shape(p.convs[0], B));
    const float* x = a.pooled;
    const std::vector<BlockSpan> spans = block_spans(p);
    for (size_t b = 0; b < spans.size(); b++) {
        const BlockSpan& span = spans[b];
        const float* shortcut = x;
        if (span.shortcut) {
            conv_norm_forward(p, p.convs[span.first], a.convs[span.first], x, B, false);
            shortcut = a.convs[span.first].out;
        }
        const size_t c1 = span.conv1();
        conv_norm_forward(p, p.convs[c1], a.convs[c1], x, B, false);
        conv_norm_forward(p, p.convs[c1 + 1], a.convs[c1 + 1], a.convs[c1].out, B, false);
        conv_norm_forward(p, p.convs[c1 + 2], a.convs[c1 + 2], a.convs[c1 + 1].out, B, false);
        cpu::add_relu_forward(a.blocks[b], a.convs[c1 + 2].out, shortcut,
                              map_size(p.convs[c1 + 2].shape(B, false)));
        x = a.blocks[b];
    }
}

void backbone_backward(const BackboneParams& p, const BackboneActs& a, const BackboneScratch& s,
                       const float* dfeatures, const float* images, int64_t B) {
    // maps[1]: the gradient at a block's sum; maps[2]: at its input; maps[0]: between units;
    // maps[3]: at a convolution's output (conv_norm_backward).
    const float* dy = dfeatures;
    const std::vector<BlockSpan> spans = block_spans(p);
    for (size_t b = spans.size(); b-- > 0;) {
        const BlockSpan& span = spans[b];
        const size_t c1 = span.conv1();
        const float* x = b == 0 ? a.pooled : a.blocks[b - 1];
        const int64_t n_out = map_size(p.convs[c1 + 2].shape(B, false));
        const int64_t n_in = map_size(p.convs[c1].shape(B, false)) / p.convs[c1].out * p.convs[c1].in;
        float* dsum = s.maps[1];
        float* dx = s.maps[2];
        cpu::relu_backward(dsum, a.blocks[b], dy, n_out);
        if (span.shortcut) {
            conv_norm_backward(p, p.convs[span.first], a.convs[span.first], s, dx, dsum, x, B, false);
        } else {
            std::copy_n(dsum, n_out, dx);
        }
        conv_norm_backward(p, p.convs[c1 + 2], a.convs[c1 + 2], s, s.maps[0], dsum, a.convs[c1 + 1].out, B, false);
        conv_norm_backward(p, p.convs[c1 + 1], a.convs[c1 + 1], s, dsum, s.maps[0], a.convs[c1].out, B, false);
        conv_norm_backward(p, p.convs[c1], a.convs[c1], s, s.maps[0], dsum, x, B, false);
        cpu::residual_forward(dx, dx, s.maps[0], nullptr, 1, n_in);
        dy = dx;
    }
    cpu::maxpool_backward(s.maps[0], dy, a.convs[0].out, pool_shape(p.convs[0], B));
    conv_norm_backward(p, p.convs[0], a.convs[0], s, nullptr, s.maps[0], images, B, true);
}

}  // namespace vit::layers
