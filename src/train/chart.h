// Line charts drawn with cairo (antialiased lines, DejaVu Sans text): a panel with a title, axes
// whose ticks fall on round numbers, axis titles with their units, and a legend above the plot
// area, never over the data. Private to src/train.
//
// Example:
//   Chart chart(1000, 440);
//   chart.panel({.x = 0, .y = 0, .w = 500, .h = 440, .title = "loss", .x_title = "step",
//                .y_title = "cross-entropy"}, {train, val});
//   chart.write_png("curves.png");
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "train/picture.h"

namespace vit {

struct Line {
    std::string label;
    double rgb[3];
    std::vector<double> x = {}, y = {};
    bool markers = false;  // a dot at every point (few points: epochs)
    bool joined = true;    // the points joined by a line
};

struct Panel {
    double x = 0, y = 0, w = 0, h = 0;  // where on the picture
    std::string title, x_title, y_title;
    std::optional<double> y_min = {}, y_max = {};  // fixed ends of the y axis (else from the data)
    std::optional<double> x_min = {}, x_max = {};  // fixed ends of the x axis (else 0 and the data's)
    bool whole_x = false;                          // ticks on whole numbers only (layers, epochs)
    std::string note = {};                         // a line of small text under the plot
};

class Chart {
  public:
    Chart(int width, int height);
    void panel(const Panel& p, const std::vector<Line>& lines);
    // Throws vit::Error naming the path when it cannot be written.
    void write_png(const std::string& path);

  private:
    Picture page_;
};

// Round tick values in [lo, hi]: steps of 1, 2 or 5 times a power of ten (at least min_step),
// about `count` of them.
std::vector<double> nice_ticks(double lo, double hi, int count, double min_step = 0.0);
// A tick value as text: no "-0", no float noise.
std::string tick_text(double v, double step);

}  // namespace vit
