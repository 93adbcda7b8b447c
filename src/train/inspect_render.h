// The pictures of vit inspect, drawn with cairo: maps over the patch grid as heatmaps on the input
// image, in captioned tiles on one colour scale with its colour bar, and the mean attention
// distance of every head against depth.
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
    std::vector<double> grid;  // [grid_height, grid_width]; empty: the image alone
};

struct HeatmapPicture {
    std::string title;     // what the maps are
    std::string subtitle;  // the model's prediction for the image, say
    std::string scale;     // what the colour bar's values are ("attention probability")
};

// Up to 8 tiles a row under the title; each tile is the image in grey (enlarged by a whole factor
// to at least 128 pixels) with its grid's cells coloured on one scale for every tile, from dark
// purple (0) to yellow (the largest value of any tile), which the colour bar beside them shows
// with its values and the level of a uniform map (1 / cells).
void write_heatmap_tiles(const std::string& path, const HeatmapPicture& picture, const DisplayImage& img,
                         int64_t grid_height, int64_t grid_width, const std::vector<HeatTile>& tiles);

// distance [layers, heads] in pixels: one dot per head at its layer (0-based, as --layer), and
// the mean over the heads of each layer as a line; the y axis starts at 0 px.
void write_distance_plot(const std::string& path, const std::vector<double>& distance, int64_t layers, int64_t heads);

}  // namespace vit
