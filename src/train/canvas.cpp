// The raster, font and plotting panel of canvas.h.
#include "canvas.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <map>

namespace vit {

namespace {

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
        {'b', {"#    ", "#    ", "# ## ", "##  #", "#   #", "#   #", "#### "}},
        {'d', {"    #", "    #", " ## #", "#  ##", "#   #", "#   #", " ####"}},
        {'f', {"  ## ", " #  #", " #   ", "###  ", " #   ", " #   ", " #   "}},
        {'g', {"     ", " ####", "#   #", "#   #", " ####", "    #", " ### "}},
        {'k', {"#    ", "#    ", "#  # ", "# #  ", "##   ", "# #  ", "#  # "}},
        {'m', {"     ", "     ", "## # ", "# # #", "# # #", "#   #", "#   #"}},
        {'w', {"     ", "     ", "#   #", "#   #", "# # #", "# # #", " # # "}},
        {'x', {"     ", "     ", "#   #", " # # ", "  #  ", " # # ", "#   #"}},
        {'(', {"   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "}},
        {')', {" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "}},
        {'/', {"     ", "    #", "   # ", "  #  ", " #   ", "#    ", "     "}},
        {':', {"     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "}},
        {' ', {"     ", "     ", "     ", "     ", "     ", "     ", "     "}},
    };
    return glyphs;
}

// A tick value with as many decimals as the tick spacing `step` needs (none from 1 up).
std::string tick_label(double v, double step, bool percent) {
    if (percent) return fmt::format("{:.0f}%", v * 100.0);
    const int decimals = std::clamp(static_cast<int>(std::ceil(-std::log10(step))), 0, 4);
    return fmt::format("{:.{}f}", v, decimals);
}

// The smallest of 1, 2, 5 times a power of ten that is at least `step`.
double nice_step(double step) {
    const double magnitude = std::pow(10.0, std::floor(std::log10(step)));
    for (double m : {1.0, 2.0, 5.0}) {
        if (m * magnitude >= step) return m * magnitude;
    }
    return 10.0 * magnitude;
}

}  // namespace

void Canvas::line(double x0, double y0, double x1, double y1, Rgb c, int thickness) {
    const int64_t n = static_cast<int64_t>(std::max(std::fabs(x1 - x0), std::fabs(y1 - y0))) + 1;
    for (int64_t i = 0; i <= n; i++) {
        const double t = static_cast<double>(i) / static_cast<double>(n);
        const int64_t x = std::llround(x0 + t * (x1 - x0)), y = std::llround(y0 + t * (y1 - y0));
        for (int dy = 0; dy < thickness; dy++)
            for (int dx = 0; dx < thickness; dx++) set(x + dx, y + dy, c);
    }
}

void Canvas::text(int64_t x, int64_t y, const std::string& s, Rgb c, int align) {
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

void draw_panel(Canvas& cv, int64_t left, int64_t top, int64_t w, int64_t h, const std::string& title,
                const std::string& xlabel, const std::vector<Series>& series, bool percent) {
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
    const double pad = 0.05 * (y1 - y0), x_pad = 0.03 * (x1 - x0);
    y0 -= pad; y1 += pad;
    x0 -= x_pad; x1 += x_pad;
    const int64_t pl = left + 80, pt = top + 40, pw = w - 100, ph = h - 100;
    auto X = [&](double v) { return static_cast<double>(pl) + (v - x0) / (x1 - x0) * static_cast<double>(pw); };
    auto Y = [&](double v) { return static_cast<double>(pt + ph) - (v - y0) / (y1 - y0) * static_cast<double>(ph); };
    for (int i = 0; i <= 4; i++) {
        const double yv = y0 + (y1 - y0) * i / 4.0;
        cv.line(static_cast<double>(pl), Y(yv), static_cast<double>(pl + pw), Y(yv), kGrid, 1);
        cv.text(pl - 8, std::llround(Y(yv)) - 7, tick_label(yv, (y1 - y0) / 4.0, percent), kBlack, 2);
    }
    // x ticks: at whole numbers when every x is one (steps, epochs, layers), else 5 even ones
    bool whole = true;
    for (const Series& s : series)
        for (double v : s.x) whole = whole && v == std::round(v);
    const double x_step = whole ? std::max(1.0, nice_step((x1 - x0) / 4.0)) : (x1 - x0) / 4.0;
    for (double xv = whole ? std::ceil(x0 / x_step) * x_step : x0; xv <= x1 + 1e-9 * (x1 - x0); xv += x_step) {
        cv.text(std::llround(X(xv)), pt + ph + 10, tick_label(xv, x_step, false), kBlack, 1);
    }
    cv.line(static_cast<double>(pl), static_cast<double>(pt), static_cast<double>(pl), static_cast<double>(pt + ph), kBlack, 2);
    cv.line(static_cast<double>(pl), static_cast<double>(pt + ph), static_cast<double>(pl + pw), static_cast<double>(pt + ph), kBlack, 2);
    cv.text(pl + pw / 2, top + 10, title, kBlack, 1);
    cv.text(pl + pw / 2, pt + ph + 34, xlabel, kBlack, 1);
    int64_t legend_y = pt + 8;
    for (const Series& s : series) {
        if (s.x.empty()) continue;
        if (s.lines)
            for (size_t i = 1; i < s.x.size(); i++) cv.line(X(s.x[i - 1]), Y(s.y[i - 1]), X(s.x[i]), Y(s.y[i]), s.color, 2);
        for (size_t i = 0; i < s.x.size(); i++) cv.line(X(s.x[i]) - 2, Y(s.y[i]) - 2, X(s.x[i]) - 2, Y(s.y[i]) + 2, s.color, 5);
        cv.line(static_cast<double>(pl + pw - 150), static_cast<double>(legend_y + 6), static_cast<double>(pl + pw - 125),
                static_cast<double>(legend_y + 6), s.color, 3);
        cv.text(pl + pw - 118, legend_y, s.label, s.color);
        legend_y += 20;
    }
}


}  // namespace vit
