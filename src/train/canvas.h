// Drawing for the pictures vit writes (training curves, attention maps): an RGB raster with
// lines, a small built-in 5x7 font, and a plotting panel with axes, ticks and a legend.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace vit {

using Rgb = std::array<uint8_t, 3>;
inline constexpr Rgb kBlack{30, 30, 30}, kGrid{225, 225, 225}, kBlue{31, 119, 180}, kOrange{255, 127, 14};

class Canvas {
  public:
    Canvas(int64_t w, int64_t h) : w_(w), h_(h), px_(static_cast<size_t>(w * h * 3), 255) {}
    void set(int64_t x, int64_t y, Rgb c) {
        if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
        std::copy(c.begin(), c.end(), px_.begin() + (y * w_ + x) * 3);
    }
    void line(double x0, double y0, double x1, double y1, Rgb c, int thickness);
    // Text of 5x7 glyphs scaled by 2, anchored at its left (align 0), centre (1) or right (2).
    void text(int64_t x, int64_t y, const std::string& s, Rgb c, int align = 0);
    const uint8_t* data() const { return px_.data(); }
    int64_t width() const { return w_; }
    int64_t height() const { return h_; }

  private:
    int64_t w_, h_;
    std::vector<uint8_t> px_;
};

struct Series {
    Rgb color;
    std::string label;
    std::vector<double> x = {}, y = {};
    bool lines = true;  // joined by lines, or dots only
};

// A plot of `series` in the box (left, top, w, h) of the canvas: title, axes with 5 ticks each
// (y as percentages with `percent`), an x-axis label and a legend of the labelled series.
void draw_panel(Canvas& cv, int64_t left, int64_t top, int64_t w, int64_t h, const std::string& title,
                const std::string& xlabel, const std::vector<Series>& series, bool percent);

}  // namespace vit
