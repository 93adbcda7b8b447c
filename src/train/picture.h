// What every picture vit draws with cairo shares: a white RGB page with DejaVu Sans text, small
// images enlarged pixel for pixel, and writing the page as PNG. Private to src/train.
//
// Example:
//   Picture page(400, 300);
//   page.text(10, 20, "title", 15);
//   page.paint_enlarged(rgb_image(28, 28, [&](int64_t y, int64_t x) { return Rgb{v, v, v}; }), 10, 40, 4);
//   page.write_png("out.png");
#pragma once

#include <cairo.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace vit {

using Rgb = std::array<double, 3>;  // each in [0, 1]
using Surface = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;

// An image of width x height whose pixel (y, x) is pixel(y, x).
Surface rgb_image(int64_t width, int64_t height, const std::function<Rgb(int64_t y, int64_t x)>& pixel);

class Picture {
  public:
    Picture(double width, double height);
    cairo_t* cr() { return cr_.get(); }
    // Text of `size` points with its baseline at y, starting (align 0), centred (0.5) or ending
    // (1) at x, in the current colour.
    void text(double x, double y, const std::string& s, double size, double align = 0.0);
    // `image` at (left, top), each of its pixels a square of scale x scale.
    void paint_enlarged(const Surface& image, double left, double top, int64_t scale);
    // Throws vit::Error naming the path when it cannot be written.
    void write_png(const std::string& path);

  private:
    Surface surface_;
    std::unique_ptr<cairo_t, decltype(&cairo_destroy)> cr_;
};

}  // namespace vit
