// The pictures of inspect_render.h, drawn on the canvas of canvas.h and written as PNG.
#include "inspect_render.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "canvas.h"
#include "vit/image_io.h"

namespace vit {

namespace {

constexpr int64_t kTilesPerRow = 8;
constexpr int64_t kMinTile = 128;  // pixels on the longer side
constexpr int64_t kMargin = 8, kCaption = 24, kTitle = 36;

// A dark-purple-to-yellow ramp through red and orange, linear between five stops.
Rgb heat_color(double v) {
    static constexpr std::array<Rgb, 5> stops = {
        Rgb{0, 0, 4}, Rgb{87, 16, 110}, Rgb{188, 55, 84}, Rgb{249, 142, 9}, Rgb{252, 255, 164}};
    const double t = std::clamp(v, 0.0, 1.0) * static_cast<double>(stops.size() - 1);
    const size_t i = std::min(static_cast<size_t>(t), stops.size() - 2);
    const double f = t - static_cast<double>(i);
    Rgb c{};
    for (size_t k = 0; k < 3; k++) {
        c[k] = static_cast<uint8_t>(std::lround((1.0 - f) * stops[i][k] + f * stops[i + 1][k]));
    }
    return c;
}

double grey_at(const DisplayImage& img, int64_t y, int64_t x) {
    const int64_t plane = img.height * img.width, at = y * img.width + x;
    if (img.channels < 3) return img.pixels[at];
    return 0.299 * img.pixels[at] + 0.587 * img.pixels[plane + at] + 0.114 * img.pixels[2 * plane + at];
}

// The tile at (left, top), `scale` canvas pixels per image pixel.
// Image pixel (y, x) lies in grid cell (y * grid_h / H, x * grid_w / W): a patch of a plain ViT,
// or the area a hybrid's feature-map token covers.
void draw_tile(Canvas& cv, int64_t left, int64_t top, int64_t scale, const DisplayImage& img, int64_t grid_h,
               int64_t grid_w, const HeatTile& tile) {
    const double peak = tile.grid.empty() ? 0.0 : *std::max_element(tile.grid.begin(), tile.grid.end());
    for (int64_t y = 0; y < img.height * scale; y++) {
        for (int64_t x = 0; x < img.width * scale; x++) {
            const int64_t iy = y / scale, ix = x / scale;
            const double grey = std::clamp(grey_at(img, iy, ix), 0.0, 1.0) * 255.0;
            Rgb c{};
            if (tile.grid.empty()) {
                c.fill(static_cast<uint8_t>(std::lround(grey)));
            } else {
                const double v = peak > 0.0 ? tile.grid[static_cast<size_t>(iy * grid_h / img.height * grid_w + ix * grid_w / img.width)] / peak : 0.0;
                const Rgb heat = heat_color(v);
                for (size_t k = 0; k < 3; k++) c[k] = static_cast<uint8_t>(std::lround(0.4 * grey + 0.6 * heat[k]));
            }
            cv.set(left + x, top + y, c);
        }
    }
    cv.text(left + img.width * scale / 2, top - kCaption + 4, tile.caption, kBlack, 1);
}

}  // namespace

void write_heatmap_tiles(const std::string& path, const std::string& title, const DisplayImage& img,
                         int64_t grid_height, int64_t grid_width, const std::vector<HeatTile>& tiles) {
    const int64_t scale = std::max<int64_t>(1, (kMinTile + std::max(img.height, img.width) - 1) /
                                                   std::max(img.height, img.width));
    const int64_t tile_w = img.width * scale, tile_h = img.height * scale;
    const int64_t n = static_cast<int64_t>(tiles.size());
    const int64_t cols = std::min(n, kTilesPerRow), rows = (n + kTilesPerRow - 1) / kTilesPerRow;
    const int64_t width = std::max<int64_t>(cols * (tile_w + kMargin) + kMargin,
                                            static_cast<int64_t>(title.size()) * 12 + 2 * kMargin);
    Canvas cv(width, kTitle + rows * (tile_h + kCaption + kMargin) + kMargin);
    cv.text(kMargin, 10, title, kBlack);
    for (int64_t i = 0; i < n; i++) {
        const int64_t left = kMargin + i % kTilesPerRow * (tile_w + kMargin);
        const int64_t top = kTitle + i / kTilesPerRow * (tile_h + kCaption + kMargin) + kCaption;
        draw_tile(cv, left, top, scale, img, grid_height, grid_width, tiles[static_cast<size_t>(i)]);
    }
    write_png(path, cv.data(), cv.height(), cv.width(), 3);
}

void write_distance_plot(const std::string& path, const std::vector<double>& distance, int64_t layers, int64_t heads) {
    Series per_head{.color = kBlue, .label = "heads", .lines = false}, mean{.color = kOrange, .label = "mean"};
    for (int64_t l = 0; l < layers; l++) {
        double sum = 0.0;
        for (int64_t h = 0; h < heads; h++) {
            const double d = distance[static_cast<size_t>(l * heads + h)];
            per_head.x.push_back(static_cast<double>(l + 1));
            per_head.y.push_back(d);
            sum += d;
        }
        mean.x.push_back(static_cast<double>(l + 1));
        mean.y.push_back(sum / static_cast<double>(heads));
    }
    Canvas cv(640, 440);
    draw_panel(cv, 0, 0, 640, 440, "mean attention distance (px)", "depth (layer)", {per_head, mean}, false);
    write_png(path, cv.data(), cv.height(), cv.width(), 3);
}

}  // namespace vit
