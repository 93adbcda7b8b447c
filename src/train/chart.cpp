// Line charts drawn with cairo.
#include "train/chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>


namespace vit {

namespace {

constexpr double kLeft = 72, kRight = 18, kTop = 64, kBottom = 62;  // margins of a panel's plot area

struct Range {
    double lo, hi;
    std::vector<double> ticks;
};

// The axis range over the values (and the fixed ends), widened to whole ticks.
Range axis(std::vector<double> values, std::optional<double> lo_fixed, std::optional<double> hi_fixed,
           double min_step = 0.0) {
    double lo = values.empty() ? 0.0 : *std::min_element(values.begin(), values.end());
    double hi = values.empty() ? 1.0 : *std::max_element(values.begin(), values.end());
    if (lo_fixed) lo = *lo_fixed;
    if (hi_fixed) hi = *hi_fixed;
    if (!(hi > lo)) hi = lo + 1.0;
    std::vector<double> ticks = nice_ticks(lo, hi, 6, min_step);
    const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1.0;
    if (!lo_fixed) lo = std::floor(lo / step + 1e-9) * step;
    if (!hi_fixed) hi = std::ceil(hi / step - 1e-9) * step;
    ticks = nice_ticks(lo, hi, 6, min_step);
    return {lo, hi, ticks};
}

}  // namespace

std::string tick_text(double v, double step) {
    if (std::fabs(v) < step * 1e-9) v = 0.0;
    return fmt::format("{:g}", v);
}

std::vector<double> nice_ticks(double lo, double hi, int count, double min_step) {
    const double raw = std::max((hi - lo) / std::max(1, count), min_step);
    const double power = std::pow(10.0, std::floor(std::log10(raw)));
    double step = power;
    for (const double m : {1.0, 2.0, 5.0, 10.0}) {
        step = m * power;
        if (step >= raw) break;
    }
    std::vector<double> ticks;
    for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(t);
    return ticks;
}

Chart::Chart(int width, int height) : page_(width, height) {}

void Chart::panel(const Panel& p, const std::vector<Line>& lines) {
    cairo_t* cr = page_.cr();
    std::vector<double> xs = {p.x_min.value_or(0.0)}, ys;  // the x axis starts at 0 unless told
    for (const Line& l : lines) {
        xs.insert(xs.end(), l.x.begin(), l.x.end());
        ys.insert(ys.end(), l.y.begin(), l.y.end());
    }
    const Range rx = axis(xs, p.x_min, p.x_max, p.whole_x ? 1.0 : 0.0), ry = axis(ys, p.y_min, p.y_max);
    const double x0 = p.x + kLeft, x1 = p.x + p.w - kRight, y0 = p.y + kTop, y1 = p.y + p.h - kBottom;
    auto px = [&](double v) { return x0 + (v - rx.lo) / (rx.hi - rx.lo) * (x1 - x0); };
    auto py = [&](double v) { return y1 - (v - ry.lo) / (ry.hi - ry.lo) * (y1 - y0); };

    // title, legend
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    page_.text(x0, p.y + 22, p.title, 15, 0);
    double lx = x0;
    for (const Line& l : lines) {
        if (l.x.empty()) continue;
        cairo_set_source_rgb(cr, l.rgb[0], l.rgb[1], l.rgb[2]);
        cairo_set_line_width(cr, 2.5);
        if (l.joined) {
            cairo_move_to(cr, lx, p.y + 44);
            cairo_line_to(cr, lx + 22, p.y + 44);
            cairo_stroke(cr);
        }
        if (l.markers) {
            cairo_arc(cr, lx + 11, p.y + 44, 3.5, 0, 2 * M_PI);
            cairo_fill(cr);
        }
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        page_.text(lx + 28, p.y + 48, l.label, 12, 0);
        cairo_text_extents_t e;
        cairo_text_extents(cr, l.label.c_str(), &e);
        lx += 28 + e.x_advance + 22;
    }

    // grid and ticks
    cairo_set_line_width(cr, 1);
    for (const double t : rx.ticks) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, std::round(px(t)) + 0.5, y0);
        cairo_line_to(cr, std::round(px(t)) + 0.5, y1);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
        page_.text(px(t), y1 + 18, tick_text(t, rx.ticks.size() > 1 ? rx.ticks[1] - rx.ticks[0] : 1.0), 11, 0.5);
    }
    for (const double t : ry.ticks) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, x0, std::round(py(t)) + 0.5);
        cairo_line_to(cr, x1, std::round(py(t)) + 0.5);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
        page_.text(x0 - 6, py(t) + 4, tick_text(t, ry.ticks.size() > 1 ? ry.ticks[1] - ry.ticks[0] : 1.0), 11, 1);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
    cairo_stroke(cr);
    page_.text((x0 + x1) / 2, y1 + 38, p.x_title, 12, 0.5);
    if (!p.note.empty()) page_.text(x0, y1 + 56, p.note, 10, 0);
    cairo_save(cr);
    cairo_move_to(cr, p.x + 18, (y0 + y1) / 2);
    cairo_rotate(cr, -M_PI / 2);
    cairo_set_font_size(cr, 12);
    cairo_text_extents_t e;
    cairo_text_extents(cr, p.y_title.c_str(), &e);
    cairo_rel_move_to(cr, -e.x_advance / 2, 0);
    cairo_show_text(cr, p.y_title.c_str());
    cairo_restore(cr);

    // the lines, clipped to the plot area
    cairo_save(cr);
    cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
    cairo_clip(cr);
    for (const Line& l : lines) {
        cairo_set_source_rgb(cr, l.rgb[0], l.rgb[1], l.rgb[2]);
        cairo_set_line_width(cr, 2);
        for (size_t i = 0; l.joined && i < l.x.size(); i++) {
            if (i == 0) {
                cairo_move_to(cr, px(l.x[i]), py(l.y[i]));
            } else {
                cairo_line_to(cr, px(l.x[i]), py(l.y[i]));
            }
        }
        if (l.joined) cairo_stroke(cr);
        for (size_t i = 0; l.markers && i < l.x.size(); i++) {
            cairo_arc(cr, px(l.x[i]), py(l.y[i]), 3.5, 0, 2 * M_PI);
            cairo_fill(cr);
        }
    }
    cairo_restore(cr);
}

void Chart::write_png(const std::string& path) { page_.write_png(path); }

}  // namespace vit
