// samples.png: what the model is trained on, drawn with cairo: a grid of training images after
// the recipe's augmentation (normalisation undone for display), each with its class name.
#include "vit/samples.h"

#include <algorithm>
#include <cmath>

#include "train/picture.h"
#include "vit/error.h"

namespace vit {

namespace {

// The pixel (c, y, x) of image i in display range [0, 1]: Normalize undone.
float display_value(const SampleImages& s, int64_t i, int64_t c, int64_t y, int64_t x) {
    const float v = s.images[static_cast<size_t>(((i * s.channels + c) * s.height + y) * s.width + x)];
    const size_t k = static_cast<size_t>(c);
    const float mean = s.mean.empty() ? 0.0f : s.mean[std::min(k, s.mean.size() - 1)];
    const float std = s.std.empty() ? 1.0f : s.std[std::min(k, s.std.size() - 1)];
    return std::clamp(v * std + mean, 0.0f, 1.0f);
}

}  // namespace

void write_samples_png(const SampleImages& s, const std::string& path) {
    const int64_t n = static_cast<int64_t>(s.labels.size());
    if (n < 1) fail("samples: no images to draw");
    const int64_t columns = std::min<int64_t>(n, 8), rows = (n + columns - 1) / columns;
    // Each image scaled by a whole factor to about 96 pixels on its longer side, a caption below.
    const int64_t scale = std::max<int64_t>(1, 96 / std::max(s.height, s.width));
    const int64_t cell_w = std::max<int64_t>(s.width * scale, 96) + 12, cell_h = s.height * scale + 30;
    Picture page(static_cast<double>(columns * cell_w + 12), static_cast<double>(rows * cell_h + 44));
    cairo_set_source_rgb(page.cr(), 0.1, 0.1, 0.1);
    page.text(12, 26, s.title, 15);
    for (int64_t i = 0; i < n; i++) {
        const Surface image = rgb_image(s.width, s.height, [&](int64_t y, int64_t x) {
            Rgb c{};
            for (int64_t k = 0; k < 3; k++) c[static_cast<size_t>(k)] = display_value(s, i, s.channels == 1 ? 0 : k, y, x);
            return c;
        });
        const double x0 = 12.0 + static_cast<double>((i % columns) * cell_w);
        const double y0 = 40.0 + static_cast<double>((i / columns) * cell_h);
        page.paint_enlarged(image, x0, y0, scale);
        const int32_t label = s.labels[static_cast<size_t>(i)];
        const std::string name = label >= 0 && static_cast<size_t>(label) < s.class_names.size()
                                     ? s.class_names[static_cast<size_t>(label)]
                                     : fmt::format("class {}", label);
        page.text(x0, y0 + static_cast<double>(s.height * scale) + 16, name, 12);
    }
    page.write_png(path);
}

}  // namespace vit
