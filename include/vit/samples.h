// A look at the data: a grid of training images as the model sees them (after augmentation),
// each captioned with its class name, as a PNG.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vit {

struct SampleImages {
    std::string title;
    std::vector<float> images;   // [n, channels, height, width], normalised
    std::vector<int32_t> labels; // [n]
    std::vector<std::string> class_names;
    int64_t channels = 1, height = 0, width = 0;
    std::vector<float> mean, std;  // the Normalize to undo for display (empty: none)
};

// Throws vit::Error when the file cannot be written.
void write_samples_png(const SampleImages& samples, const std::string& path);

}  // namespace vit
