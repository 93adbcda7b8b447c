// The cairo page every picture of vit is drawn on.
#include "train/picture.h"

#include <algorithm>
#include <cmath>

#include "vit/error.h"

namespace vit {

Surface rgb_image(int64_t width, int64_t height, const std::function<Rgb(int64_t y, int64_t x)>& pixel) {
    Surface s(cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(width), static_cast<int>(height)),
              cairo_surface_destroy);
    cairo_surface_flush(s.get());
    unsigned char* data = cairo_image_surface_get_data(s.get());
    const int stride = cairo_image_surface_get_stride(s.get());
    auto byte = [](double v) { return static_cast<uint32_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); };
    for (int64_t y = 0; y < height; y++) {
        auto* row = reinterpret_cast<uint32_t*>(data + y * stride);
        for (int64_t x = 0; x < width; x++) {
            const Rgb c = pixel(y, x);
            row[x] = byte(c[0]) << 16 | byte(c[1]) << 8 | byte(c[2]);
        }
    }
    cairo_surface_mark_dirty(s.get());
    return s;
}

Picture::Picture(double width, double height)
    : surface_(cairo_image_surface_create(CAIRO_FORMAT_RGB24, static_cast<int>(width), static_cast<int>(height)),
               cairo_surface_destroy),
      cr_(cairo_create(surface_.get()), cairo_destroy) {
    cairo_set_source_rgb(cr_.get(), 1, 1, 1);
    cairo_paint(cr_.get());
    cairo_select_font_face(cr_.get(), "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
}

void Picture::text(double x, double y, const std::string& s, double size, double align) {
    cairo_set_font_size(cr(), size);
    cairo_text_extents_t e;
    cairo_text_extents(cr(), s.c_str(), &e);
    cairo_move_to(cr(), x - align * e.x_advance, y);
    cairo_show_text(cr(), s.c_str());
}

void Picture::paint_enlarged(const Surface& image, double left, double top, int64_t scale) {
    cairo_save(cr());
    cairo_translate(cr(), left, top);
    cairo_scale(cr(), static_cast<double>(scale), static_cast<double>(scale));
    cairo_set_source_surface(cr(), image.get(), 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr()), CAIRO_FILTER_NEAREST);  // pixels stay pixels
    cairo_paint(cr());
    cairo_restore(cr());
}

void Picture::write_png(const std::string& path) {
    cairo_surface_flush(surface_.get());
    const cairo_status_t status = cairo_surface_write_to_png(surface_.get(), path.c_str());
    if (status != CAIRO_STATUS_SUCCESS) fail("cannot write '{}': {}", path, cairo_status_to_string(status));
}

}  // namespace vit
