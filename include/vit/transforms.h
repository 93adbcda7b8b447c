// Image transforms as in torchvision (on tensors scaled to [0, 1]): Resize, CenterCrop,
// RandomResizedCrop, RandomCrop with padding, RandomHorizontalFlip, RandAugment (rand_augment.h),
// Normalize, RandomErasing;
// and a Pipeline that applies a list of them and writes the [C, H, W] input of the model.
//
// Example:
//   vit::Pipeline train({{.op = vit::TransformOp::RandomCrop, .height = 28, .width = 28, .padding = 2},
//                        {.op = vit::TransformOp::HorizontalFlip, .p = 0.5},
//                        {.op = vit::TransformOp::Normalize, .mean = {0.286}, .std = {0.353}}},
//                       /*channels=*/1, /*height=*/28, /*width=*/28);
//   vit::Rng rng(vit::sample_seed(seed, epoch, index));
//   train.apply(dataset->load(index), rng, batch_images + b * 28 * 28);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vit/data.h"
#include "vit/rng.h"

namespace vit {

enum class Interpolation { Bilinear, Bicubic };

// The geometric operations, each equal to torchvision.transforms.functional on a float tensor.
// Resize and resized crops use antialias (PIL's behaviour) when shrinking.
Image resize(const Image& img, int64_t height, int64_t width, Interpolation interp);
// torchvision's Resize(int): the shorter side becomes `size`, the longer keeps the aspect ratio
// (truncated to an integer).
Image resize_shorter_side(const Image& img, int64_t size, Interpolation interp);
// The box [top, top + height) x [left, left + width); pixels outside the image are 0.
Image crop(const Image& img, int64_t top, int64_t left, int64_t height, int64_t width);
Image center_crop(const Image& img, int64_t height, int64_t width);
Image horizontal_flip(const Image& img);
// Converts 1 <-> 3 channels (grey to RGB by copying; RGB to grey with ITU-R 601 luma).
Image to_channels(const Image& img, int64_t channels);

struct CropBox {
    int64_t top = 0, left = 0, height = 0, width = 0;
};
// RandomResizedCrop.get_params: 10 tries at a random area and log-uniform aspect ratio, then the
// largest centred box of an allowed ratio.
CropBox random_resized_crop_box(int64_t height, int64_t width, const float scale[2], const float ratio[2], Rng& rng);

// RandomErasing.get_params: 10 tries at a random area (a fraction in [scale[0], scale[1]] of the
// image) and a log-uniform aspect ratio height/width in [ratio[0], ratio[1]], keeping the first
// box smaller than the image on both sides, at a uniform position; a box of height 0 when no try
// fits (the image is left as it is).
CropBox random_erasing_box(int64_t height, int64_t width, const float scale[2], const float ratio[2], Rng& rng);

enum class TransformOp {
    Resize, CenterCrop, RandomResizedCrop, RandomCrop, HorizontalFlip, Normalize, RandomErasing, RandAugment
};

struct Transform {
    TransformOp op = TransformOp::Resize;
    int64_t height = 0, width = 0;           // output size; Resize with width 0: shorter side = height
    Interpolation interpolation = Interpolation::Bilinear;
    float scale[2] = {0.08f, 1.0f};          // RandomResizedCrop (RandomErasing: see make_random_erasing)
    float ratio[2] = {3.0f / 4.0f, 4.0f / 3.0f};
    int64_t padding = 0;                     // RandomCrop: zeros on every side first
    double p = 0.5;                          // HorizontalFlip and RandomErasing probability
    float erase_value = 0.0f;                // RandomErasing: the value written into the box ...
    bool erase_random = false;               // ... or standard normal noise, one draw per value
    std::vector<float> mean, std;            // Normalize, one per channel
    bool round_to_8bit = false;              // Resize: clamp to [0, 1] and round to 1/255 steps, as
                                             // Pillow's resize of an 8-bit image does
    int64_t num_ops = 2, magnitude = 9, magnitude_bins = 31;  // RandAugment, torchvision's defaults
};

// Builders for pipelines made in code. Resize with width 0: the shorter side becomes `height`.
Transform make_resize(int64_t height, int64_t width, Interpolation interpolation);
Transform make_center_crop(int64_t height, int64_t width);
Transform make_normalize(std::vector<float> mean, std::vector<float> std);
// torchvision's defaults: p 0.5, scale (0.02, 0.33), ratio (0.3, 3.3), value 0. After normalize it
// erases the normalised values (0 is then the mean), as torchvision does on a normalised tensor;
// before it, the [0, 1] pixels.
Transform make_random_erasing(double p);

// RandAugment with num_ops operations at bin `magnitude` of 31 (torchvision's RandAugment(num_ops,
// magnitude)); it must come before normalize.
Transform make_rand_augment(int64_t num_ops, int64_t magnitude);

// The operation names used in recipes: resize, center_crop, random_resized_crop, random_crop,
// horizontal_flip, rand_augment, normalize, random_erasing.
const char* transform_name(TransformOp op);

class Pipeline {
  public:
    Pipeline() = default;
    // Throws vit::Error when a transform is inconsistent (a normalize with the wrong number of
    // channels or followed by anything but random_erasing, a non-positive size, p outside [0, 1]).
    Pipeline(std::vector<Transform> steps, int64_t channels, int64_t height, int64_t width);
    // Converts `img` to the model's channel count, applies the steps and writes [C, H, W] to
    // `out`. Throws vit::Error when the result is not height x width.
    void apply(const Image& img, Rng& rng, float* out) const;
    const std::vector<Transform>& steps() const { return steps_; }
    int64_t sample_size() const { return channels_ * height_ * width_; }

  private:
    std::vector<Transform> steps_;
    int64_t channels_ = 0, height_ = 0, width_ = 0;
};

// The shorter side an image needs before `steps` when their first step resizes (to that
// shorter side, or to the larger of both sides), else 0: what decode_image may shrink a huge
// JPEG to.
int64_t decode_shorter_side(const std::vector<Transform>& steps);

// The generator state for the augmentation of one sample in one epoch.
inline uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t index) {
    return mix64(seed ^ mix64(static_cast<uint64_t>(epoch) * 0x100000001b3ull ^ mix64(static_cast<uint64_t>(index))));
}

}  // namespace vit
