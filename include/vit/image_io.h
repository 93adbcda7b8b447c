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

// Images up to this size decode exactly, as Pillow decodes them (16 M pixels: 192 MiB as floats).
inline constexpr int64_t kExactDecodePixels = int64_t{16} << 20;

// Decodes a JPEG or PNG (recognised by its first bytes) into 1 (grey) or 3 (RGB) channels in
// [0, 1]; alpha is dropped. Throws vit::Error naming the file for an unknown format, a corrupt or
// truncated file, or more than max_pixels pixels.
// With min_shorter_side > 0 (the pipeline's first step resizes to that size), a JPEG of more
// than kExactDecodePixels pixels is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT
// scaling), the smallest that keeps its shorter side at least min_shorter_side: a small file
// declaring a huge image then costs a fraction of the memory.
Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name, int64_t max_pixels,
                   int64_t min_shorter_side = 0);
Image decode_image_file(const std::string& path, int64_t max_pixels, int64_t min_shorter_side = 0);

// Writes 8-bit pixels [height, width, channels] (channels 1 or 3) as a PNG, atomically.
void write_png(const std::string& path, const uint8_t* pixels, int64_t height, int64_t width,
               int64_t channels);

}  // namespace vit
