// The training plot: two panels (loss against step, accuracy against epoch) drawn into an RGB
// raster with a small built-in 5x7 font, then written as PNG.
#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "vit/error.h"
#include "vit/image_io.h"
#include "vit/trainer.h"

namespace vit {

namespace {

using Rgb = std::array<uint8_t, 3>;
constexpr Rgb kBlack{30, 30, 30}, kGrid{225, 225, 225}, kBlue{31, 119, 180}, kOrange{255, 127, 14};

// 5x7 glyphs, one string per row, '#' = ink.
const std::map<char, std::array<const char*, 7>>& font() {
    static const std::map<char, std::array<const char*, 7>> glyphs = {
        {'0', {" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "}},
        {'1', {"  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
        {'2', {" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"}},
        {'3', {"#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "}},
        {'4', {"   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "}},
        {'5', {"#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "}},
        {'6', {"  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "}},
        {'7', {"#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "}},
        {'8', {" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "}},
        {'9', {" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "}},
        {'.', {"     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "}},
        {'-', {"     ", "     ", "     ", "#####", "     ", "     ", "     "}},
        {'%', {"##   ", "##  #", "   # ", "  #  ", " #   ", "#  ##", "   ##"}},
        {'a', {"     ", "     ", " ### ", "    #", " ####", "#   #", " ####"}},
        {'c', {"     ", "     ", " ### ", "#    ", "#    ", "#   #", " ### "}},
        {'e', {"     ", "     ", " ### ", "#   #", "#####", "#    ", " ### "}},
        {'h', {"#    ", "#    ", "# ## ", "##  #", "#   #", "#   #", "#   #"}},
        {'i', {"  #  ", "     ", " ##  ", "  #  ", "  #  ", "  #  ", " ### "}},
        {'l', {" ##  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
        {'n', {"     ", "     ", "# ## ", "##  #", "#   #", "#   #", "#   #"}},
        {'o', {"     ", "     ", " ### ", "#   #", "#   #", "#   #", " ### "}},
        {'p', {"     ", "     ", "#### ", "#   #", "#### ", "#    ", "#    "}},
        {'r', {"     ", "     ", "# ## ", "##  #", "#    ", "#    ", "#    "}},
        {'s', {"     ", "     ", " ####", "#    ", " ### ", "    #", "#### "}},
        {'t', {" #   ", " #   ", "###  ", " #   ", " #   ", " #  #", "  ## "}},
        {'u', {"     ", "     ", "#   #", "#   #", "#   #", "#  ##", " ## #"}},
        {'v', {"     ", "     ", "#   #", "#   #", "#   #", " # # ", "  #  "}},
        {'y', {"     ", "     ", "#   #", "#   #", " ####", "    #", " ### "}},
        {' ', {"     ", "     ", "     ", "     ", "     ", "     ", "     "}},
    };
    return glyphs;
}

class Canvas {
  public:
    Canvas(int64_t w, int64_t h) : w_(w), h_(h), px_(static_cast<size_t>(w * h * 3), 255) {}
    void set(int64_t x, int64_t y, Rgb c) {
        if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
        std::copy(c.begin(), c.end(), px_.begin() + (y * w_ + x) * 3);
    }
    void line(double x0, double y0, double x1, double y1, Rgb c, int thickness) {
        const int64_t n = static_cast<int64_t>(std::max(std::fabs(x1 - x0), std::fabs(y1 - y0))) + 1;
        for (int64_t i = 0; i <= n; i++) {
            const double t = static_cast<double>(i) / static_cast<double>(n);
            const int64_t x = std::llround(x0 + t * (x1 - x0)), y = std::llround(y0 + t * (y1 - y0));
            for (int dy = 0; dy < thickness; dy++)
                for (int dx = 0; dx < thickness; dx++) set(x + dx, y + dy, c);
        }
    }
    // Text of 5x7 glyphs scaled by 2, anchored at its left (align 0), centre (1) or right (2).
    void text(int64_t x, int64_t y, const std::string& s, Rgb c, int align = 0) {
        const int64_t width = static_cast<int64_t>(s.size()) * 12;
        x -= align == 1 ? width / 2 : (align == 2 ? width : 0);
        for (char ch : s) {
            auto it = font().find(ch);
            if (it != font().end()) {
                for (int r = 0; r < 7; r++)
                    for (int k = 0; k < 5; k++)
                        if (it->second[static_cast<size_t>(r)][k] == '#')
                            for (int d = 0; d < 4; d++) set(x + 2 * k + d % 2, y + 2 * r + d / 2, c);
            }
            x += 12;
        }
    }
    const uint8_t* data() const { return px_.data(); }

  private:
    int64_t w_, h_;
    std::vector<uint8_t> px_;
};

struct Series {
    Rgb color;
    std::string label;
    std::vector<double> x = {}, y = {};
};

std::string tick_label(double v, bool percent) {
    if (percent) return fmt::format("{:.0f}%", v * 100.0);
    return std::fabs(v) >= 10 ? fmt::format("{:.0f}", v) : fmt::format("{:.2f}", v);
}

void panel(Canvas& cv, int64_t left, int64_t top, int64_t w, int64_t h, const std::string& title, const std::string& xlabel,
           const std::vector<Series>& series, bool percent) {
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (const Series& s : series) {
        for (size_t i = 0; i < s.x.size(); i++) {
            if (!std::isfinite(s.y[i])) continue;
            x0 = std::min(x0, s.x[i]); x1 = std::max(x1, s.x[i]);
            y0 = std::min(y0, s.y[i]); y1 = std::max(y1, s.y[i]);
        }
    }
    if (x0 > x1) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
    if (x1 - x0 < 1e-12) x1 = x0 + 1;
    if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
    const double pad = 0.05 * (y1 - y0);
    y0 -= pad; y1 += pad;
    const int64_t pl = left + 80, pt = top + 40, pw = w - 100, ph = h - 100;
    auto X = [&](double v) { return static_cast<double>(pl) + (v - x0) / (x1 - x0) * static_cast<double>(pw); };
    auto Y = [&](double v) { return static_cast<double>(pt + ph) - (v - y0) / (y1 - y0) * static_cast<double>(ph); };
    for (int i = 0; i <= 4; i++) {
        const double yv = y0 + (y1 - y0) * i / 4.0, xv = x0 + (x1 - x0) * i / 4.0;
        cv.line(static_cast<double>(pl), Y(yv), static_cast<double>(pl + pw), Y(yv), kGrid, 1);
        cv.text(pl - 8, std::llround(Y(yv)) - 7, tick_label(yv, percent), kBlack, 2);
        cv.text(std::llround(X(xv)), pt + ph + 10, tick_label(xv, false), kBlack, 1);
    }
    cv.line(static_cast<double>(pl), static_cast<double>(pt), static_cast<double>(pl), static_cast<double>(pt + ph), kBlack, 2);
    cv.line(static_cast<double>(pl), static_cast<double>(pt + ph), static_cast<double>(pl + pw), static_cast<double>(pt + ph), kBlack, 2);
    cv.text(pl + pw / 2, top + 10, title, kBlack, 1);
    cv.text(pl + pw / 2, pt + ph + 34, xlabel, kBlack, 1);
    int64_t legend_y = pt + 8;
    for (const Series& s : series) {
        if (s.x.empty()) continue;
        for (size_t i = 1; i < s.x.size(); i++) cv.line(X(s.x[i - 1]), Y(s.y[i - 1]), X(s.x[i]), Y(s.y[i]), s.color, 2);
        for (size_t i = 0; i < s.x.size(); i++) cv.line(X(s.x[i]) - 2, Y(s.y[i]) - 2, X(s.x[i]) - 2, Y(s.y[i]) + 2, s.color, 5);
        cv.line(static_cast<double>(pl + pw - 150), static_cast<double>(legend_y + 6), static_cast<double>(pl + pw - 125),
                static_cast<double>(legend_y + 6), s.color, 3);
        cv.text(pl + pw - 118, legend_y, s.label, s.color);
        legend_y += 20;
    }
}

}  // namespace

void write_training_plot(const std::string& metrics_path, const std::string& png_path) {
    std::ifstream in(metrics_path);
    if (!in) fail("cannot read metrics '{}'", metrics_path);
    Series step_loss{.color = kBlue, .label = "train"}, eval_loss{.color = kOrange, .label = "val"};
    Series train_acc{.color = kBlue, .label = "train"}, eval_acc{.color = kOrange, .label = "val"};
    std::string line;
    while (std::getline(in, line)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.contains("event")) continue;
        if (j["event"] == "step") {
            step_loss.x.push_back(j.value("step", 0.0));
            step_loss.y.push_back(j.value("loss", 0.0));
        } else if (j["event"] == "epoch") {
            train_acc.x.push_back(j.value("epoch", 0.0));
            train_acc.y.push_back(j.value("train_accuracy", 0.0));
            if (j.contains("eval_top1")) {
                eval_loss.label = eval_acc.label = j.value("eval_split", "val");
                eval_loss.x.push_back(j.value("step", 0.0));
                eval_loss.y.push_back(j.value("eval_loss", 0.0));
                eval_acc.x.push_back(j.value("epoch", 0.0));
                eval_acc.y.push_back(j.value("eval_top1", 0.0));
            }
        }
    }
    Canvas cv(1000, 420);
    panel(cv, 0, 0, 500, 420, "loss", "step", {step_loss, eval_loss}, false);
    panel(cv, 500, 0, 500, 420, "accuracy", "epoch", {train_acc, eval_acc}, true);
    write_png(png_path, cv.data(), 420, 1000, 3);
}

}  // namespace vit
