// RandAugment (Cubuk et al., 2020) as torchvision implements it (transforms.RandAugment): each
// image gets num_ops operations drawn uniformly from 14, each at one magnitude (bin `magnitude`
// of `bins` of its range), with a random sign for the signed ones. The operations work on the
// image as 8-bit values, as torchvision's do on uint8 images: pixels in [0, 1] are rounded to
// multiples of 1/255 first. Geometric operations sample the nearest pixel and fill with zeros.
//
// Example:
//   vit::Rng rng(vit::sample_seed(seed, epoch, index));
//   vit::Image augmented = vit::rand_augment(img, /*num_ops=*/2, /*magnitude=*/9, /*bins=*/31, rng);
#pragma once

#include <cstdint>

#include "vit/data.h"
#include "vit/rng.h"

namespace vit {

enum class AugmentOp {
    Identity, ShearX, ShearY, TranslateX, TranslateY, Rotate, Brightness, Color, Contrast, Sharpness,
    Posterize, Solarize, AutoContrast, Equalize
};
inline constexpr int kAugmentOps = 14;

// torchvision's name of the operation ("ShearX", ...).
const char* augment_op_name(AugmentOp op);

// The operation's magnitude at `bin` of `bins` (torchvision's _augmentation_space, in fp32 as
// there) for a height x width image, and whether RandAugment draws its sign.
struct AugmentMagnitude {
    double value = 0.0;
    bool is_signed = false;
};
AugmentMagnitude augment_magnitude(AugmentOp op, int64_t bin, int64_t bins, int64_t height, int64_t width);

// One operation at a signed magnitude, as torchvision.transforms.autoaugment._apply_op applies it
// to a uint8 image with nearest interpolation and no fill.
Image apply_augment_op(const Image& img, AugmentOp op, double magnitude);

// RandAugment: num_ops operations in turn, each drawn from rng.
Image rand_augment(const Image& img, int64_t num_ops, int64_t magnitude, int64_t bins, Rng& rng);

}  // namespace vit
