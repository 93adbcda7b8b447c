// samples.png: what the model is trained on, drawn with cairo: a grid of training images after
// the recipe's augmentation (normalisation undone for display), each with its class name.
#include "vit/samples.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "vit/error.h"

namespace vit {

namespace {

using Surface = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
using Context = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;

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
    const int64_t W = columns * cell_w + 12, H = rows * cell_h + 44;
    Surface surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(W), static_cast<int>(H)),
                    cairo_surface_destroy);
    Context cr(cairo_create(surface.get()), cairo_destroy);
    cairo_set_source_rgb(cr.get(), 1, 1, 1);
    cairo_paint(cr.get());
    cairo_select_font_face(cr.get(), "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr.get(), 0.1, 0.1, 0.1);
    cairo_set_font_size(cr.get(), 15);
    cairo_move_to(cr.get(), 12, 26);
    cairo_show_text(cr.get(), s.title.c_str());
    cairo_set_font_size(cr.get(), 12);

    // Each image as its own surface, painted scaled without smoothing (pixels stay pixels).
    for (int64_t i = 0; i < n; i++) {
        Surface image(cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(s.width), static_cast<int>(s.height)),
                      cairo_surface_destroy);
        cairo_surface_flush(image.get());
        unsigned char* data = cairo_image_surface_get_data(image.get());
        const int stride = cairo_image_surface_get_stride(image.get());
        for (int64_t y = 0; y < s.height; y++) {
            auto* row = reinterpret_cast<uint32_t*>(data + y * stride);
            for (int64_t x = 0; x < s.width; x++) {
                uint32_t rgb[3];
                for (int64_t c = 0; c < 3; c++) {
                    const float v = display_value(s, i, s.channels == 1 ? 0 : c, y, x);
                    rgb[c] = static_cast<uint32_t>(std::lround(v * 255.0f));
                }
                row[x] = (rgb[0] << 16) | (rgb[1] << 8) | rgb[2];
            }
        }
        cairo_surface_mark_dirty(image.get());
        const double x0 = 12.0 + static_cast<double>((i % columns) * cell_w);
        const double y0 = 40.0 + static_cast<double>((i / columns) * cell_h);
        cairo_save(cr.get());
        cairo_translate(cr.get(), x0, y0);
        cairo_scale(cr.get(), static_cast<double>(scale), static_cast<double>(scale));
        cairo_set_source_surface(cr.get(), image.get(), 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr.get()), CAIRO_FILTER_NEAREST);
        cairo_paint(cr.get());
        cairo_restore(cr.get());
        const int32_t label = s.labels[static_cast<size_t>(i)];
        const std::string name = label >= 0 && static_cast<size_t>(label) < s.class_names.size()
                                     ? s.class_names[static_cast<size_t>(label)]
                                     : fmt::format("class {}", label);
        cairo_move_to(cr.get(), x0, y0 + static_cast<double>(s.height * scale) + 16);
        cairo_show_text(cr.get(), name.c_str());
    }
    cairo_surface_flush(surface.get());
    if (cairo_surface_write_to_png(surface.get(), path.c_str()) != CAIRO_STATUS_SUCCESS) {
        fail("cannot write '{}'", path);
    }
}

}  // namespace vit
