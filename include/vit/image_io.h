// Image files: JPEG (libjpeg-turbo) and PNG (libspng) decoding, with the pixel count checked
// against a limit before any pixel memory is allocated, and PNG encoding for plots.
//
// Example:
//   vit::Image img = vit::decode_image_file("cat.12.jpg", vit::kMaxImagePixels);
//   vit::write_png("plot.png", rgb.data(), /*height=*/480, /*width=*/960, /*channels=*/3);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vit/data.h"

namespace vit {

// Decodes a JPEG or PNG (recognised by its first bytes) into 1 (grey) or 3 (RGB) channels in
// [0, 1]; alpha is dropped. Throws vit::Error naming the file for an unknown format, a corrupt or
// truncated file, or more than max_pixels pixels.
Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name, int64_t max_pixels);
Image decode_image_file(const std::string& path, int64_t max_pixels);

// Writes 8-bit pixels [height, width, channels] (channels 1 or 3) as a PNG, atomically.
void write_png(const std::string& path, const uint8_t* pixels, int64_t height, int64_t width,
               int64_t channels);

}  // namespace vit
