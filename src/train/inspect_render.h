// The pictures of vit inspect: maps over the patch grid drawn as heatmaps on the input image, in
// captioned tiles, and the mean attention distance of every head against depth.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vit {

struct DisplayImage {
    const float* pixels;  // [channels, height, width] in [0, 1]
    int64_t channels, height, width;
};

struct HeatTile {
    std::string caption;
    std::vector<double> grid;  // [grid_height, grid_width], drawn relative to its maximum; empty: the image alone
};

// One row of up to 8 tiles per line under a title; each tile is the image in grey (enlarged by
// a whole factor to at least 128 pixels) with its grid's patch cells coloured from dark
// purple (0) to yellow (the maximum).
void write_heatmap_tiles(const std::string& path, const std::string& title, const DisplayImage& img,
                         int64_t grid_height, int64_t grid_width, const std::vector<HeatTile>& tiles);

// distance [layers, heads] in pixels: one dot per head at its layer (1-based), and the mean
// over the heads of each layer as a line.
void write_distance_plot(const std::string& path, const std::vector<double>& distance, int64_t layers, int64_t heads);

}  // namespace vit
