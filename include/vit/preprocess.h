// The evaluation preprocessing of the ecosystems pretrained weights come from, for a model input
// of H x W pixels (3 channels), each equal to its reference on 8-bit images within 1/255:
//   timm         Resize(shorter side floor(H / 0.9), bicubic), CenterCrop(H, W), Normalize(0.5, 0.5)
//   torchvision  Resize(shorter side floor(H * 256 / 224), bilinear), CenterCrop(H, W),
//                Normalize(ImageNet mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225))
//   hf           Resize to H x W (bilinear, aspect ratio not kept), Normalize(0.5, 0.5)
// Resizes round to 8-bit levels as Pillow does.
//
// Example:
//   vit::Pipeline p = vit::preprocess_pipeline("timm", 224, 224, 3);
//   p.apply(vit::decode_image_file("cat.jpg", vit::kMaxImagePixels), rng, input);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vit/transforms.h"

namespace vit {

std::vector<std::string> preprocess_names();  // timm, torchvision, hf

// The preset `name` for a model input of height x width pixels and `channels` channels: 3, or 1
// for a grey model, whose mean and std are the luma-weighted (0.299, 0.587, 0.114) means of the
// preset's three. Throws vit::Error for an unknown name (listing the valid ones) or channels other
// than 1 and 3.
Pipeline preprocess_pipeline(const std::string& name, int64_t height, int64_t width, int64_t channels);

}  // namespace vit
