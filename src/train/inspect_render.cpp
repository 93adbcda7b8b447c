// The pictures of inspect_render.h, drawn with cairo.
#include "inspect_render.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "train/chart.h"
#include "train/picture.h"

namespace vit {

namespace {

constexpr int64_t kTilesPerRow = 8;
constexpr int64_t kMinTile = 128;  // pixels on the longer side
constexpr double kMargin = 10, kCaption = 22, kTitle = 58, kBar = 150;

// A dark-purple-to-yellow ramp through red and orange, linear between five stops.
Rgb heat_color(double v) {
    static constexpr std::array<Rgb, 5> stops = {Rgb{0, 0, 4}, Rgb{87, 16, 110}, Rgb{188, 55, 84},
                                                 Rgb{249, 142, 9}, Rgb{252, 255, 164}};
    const double t = std::clamp(v, 0.0, 1.0) * static_cast<double>(stops.size() - 1);
    const size_t i = std::min(static_cast<size_t>(t), stops.size() - 2);
    const double f = t - static_cast<double>(i);
    Rgb c{};
    for (size_t k = 0; k < 3; k++) c[k] = ((1.0 - f) * stops[i][k] + f * stops[i + 1][k]) / 255.0;
    return c;
}

double grey_at(const DisplayImage& img, int64_t y, int64_t x) {
    const int64_t plane = img.height * img.width, at = y * img.width + x;
    const double v = img.channels < 3 ? img.pixels[at]
                                      : 0.299 * img.pixels[at] + 0.587 * img.pixels[plane + at] +
                                            0.114 * img.pixels[2 * plane + at];
    return std::clamp(v, 0.0, 1.0);
}

// The image in grey with the tile's grid over it (image pixel (y, x) lies in grid cell
// (y * grid_h / H, x * grid_w / W): a patch of a plain ViT, or the area of a hybrid's token),
// `vmax` the top of the colour scale.
Surface tile_surface(const DisplayImage& img, int64_t grid_h, int64_t grid_w, const HeatTile& tile, double vmax) {
    return rgb_image(img.width, img.height, [&](int64_t y, int64_t x) {
        const double grey = grey_at(img, y, x);
        Rgb c{grey, grey, grey};
        if (!tile.grid.empty()) {
            const double v = tile.grid[static_cast<size_t>(y * grid_h / img.height * grid_w + x * grid_w / img.width)];
            const Rgb heat = heat_color(vmax > 0.0 ? v / vmax : 0.0);
            for (size_t k = 0; k < 3; k++) c[k] = 0.3 * grey + 0.7 * heat[k];
        }
        return c;
    });
}

// The colour bar from 0 to vmax at (x, top), `height` tall, its ticks' values, and the level of a
// uniform map.
void colour_bar(Picture& page, double x, double top, double height, double vmax, double uniform,
                const std::string& scale) {
    cairo_t* cr = page.cr();
    const double w = 16;
    for (int i = 0; i < static_cast<int>(height); i++) {
        const Rgb c = heat_color(1.0 - i / height);
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_rectangle(cr, x, top + i, w, 1);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, x + 0.5, top + 0.5, w, height);
    cairo_stroke(cr);
    auto at = [&](double v) { return top + height * (1.0 - v / vmax); };
    const bool show_uniform = uniform <= vmax;
    const std::vector<double> ticks = nice_ticks(0.0, vmax, 5);
    for (const double t : ticks) {
        cairo_move_to(cr, x + w, at(t));
        cairo_line_to(cr, x + w + 4, at(t));
        cairo_stroke(cr);
        // a value too close to the uniform level would be written over by its label
        if (show_uniform && std::fabs(at(t) - at(uniform)) < 11) continue;
        page.text(x + w + 7, at(t) + 4, tick_text(t, ticks.size() > 1 ? ticks[1] - ticks[0] : vmax), 10, 0);
    }
    if (show_uniform) {
        cairo_set_source_rgb(cr, 0.1, 0.6, 0.9);
        cairo_move_to(cr, x - 4, at(uniform));
        cairo_line_to(cr, x + w + 4, at(uniform));
        cairo_stroke(cr);
        page.text(x + w + 7, at(uniform) + 4, "uniform", 10, 0);
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    page.text(x, top + height + 16, scale, 10, 0);
}

}  // namespace

void write_heatmap_tiles(const std::string& path, const HeatmapPicture& picture, const DisplayImage& img,
                         int64_t grid_height, int64_t grid_width, const std::vector<HeatTile>& tiles) {
    const int64_t scale = std::max<int64_t>(1, (kMinTile + std::max(img.height, img.width) - 1) /
                                                   std::max(img.height, img.width));
    const double tile_w = static_cast<double>(img.width * scale), tile_h = static_cast<double>(img.height * scale);
    const int64_t n = static_cast<int64_t>(tiles.size());
    const int64_t cols = std::min(n, kTilesPerRow), rows = (n + kTilesPerRow - 1) / kTilesPerRow;
    double vmax = 0.0;
    for (const HeatTile& t : tiles) {
        for (const double v : t.grid) vmax = std::max(vmax, v);
    }
    const double width = std::max(static_cast<double>(cols) * (tile_w + kMargin) + kMargin + kBar, 560.0);
    const double height = std::max(kTitle + static_cast<double>(rows) * (tile_h + kCaption + kMargin) + kMargin, 260.0);
    Picture page(width, height);
    cairo_set_source_rgb(page.cr(), 0.1, 0.1, 0.1);
    page.text(kMargin, 22, picture.title, 15, 0);
    page.text(kMargin, 42, picture.subtitle, 12, 0);
    for (int64_t i = 0; i < n; i++) {
        const HeatTile& tile = tiles[static_cast<size_t>(i)];
        const double left = kMargin + static_cast<double>(i % kTilesPerRow) * (tile_w + kMargin);
        const double top = kTitle + static_cast<double>(i / kTilesPerRow) * (tile_h + kCaption + kMargin);
        page.paint_enlarged(tile_surface(img, grid_height, grid_width, tile, vmax), left, top, scale);
        std::string caption = tile.caption;
        if (!tile.grid.empty()) {
            caption += fmt::format(" (max {:.2f})", *std::max_element(tile.grid.begin(), tile.grid.end()));
        }
        cairo_set_source_rgb(page.cr(), 0.1, 0.1, 0.1);
        page.text(left + tile_w / 2, top + tile_h + 15, caption, 11, 0.5);
    }
    if (vmax > 0.0) {
        const double bar_left = kMargin + static_cast<double>(cols) * (tile_w + kMargin) + 14;  // beside the tiles
        colour_bar(page, bar_left, kTitle, std::min(tile_h * static_cast<double>(rows), 240.0), vmax,
                   1.0 / static_cast<double>(grid_height * grid_width), picture.scale);
    }
    page.write_png(path);
}

void write_distance_plot(const std::string& path, const std::vector<double>& distance, int64_t layers, int64_t heads) {
    Line per_head{.label = "a head", .rgb = {0.12, 0.47, 0.71}, .markers = true, .joined = false};
    Line mean{.label = "mean of the heads", .rgb = {1.0, 0.5, 0.05}, .markers = true};
    for (int64_t l = 0; l < layers; l++) {
        double sum = 0.0;
        for (int64_t h = 0; h < heads; h++) {
            const double d = distance[static_cast<size_t>(l * heads + h)];
            per_head.x.push_back(static_cast<double>(l));
            per_head.y.push_back(d);
            sum += d;
        }
        mean.x.push_back(static_cast<double>(l));
        mean.y.push_back(sum / static_cast<double>(heads));
    }
    Chart chart(640, 460);
    chart.panel({.x = 0, .y = 0, .w = 640, .h = 460, .title = "mean attention distance",
                 .x_title = "layer (0-based, as --layer)", .y_title = "distance (pixels of the input)", .y_min = 0.0,
                 .x_min = -0.5, .x_max = static_cast<double>(layers) - 0.5, .whole_x = true},
                {mean, per_head});  // the heads' dots over the mean's line
    chart.write_png(path);
}

}  // namespace vit
