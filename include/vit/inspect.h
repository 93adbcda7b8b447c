// What a ViT attends to (the paper's section 4.5): the attention maps of any layer and head,
// attention rollout (Abnar and Zuidema, 2020) overlaid on the input image, and the mean attention
// distance of every head against depth (the paper's Figure 7); as numbers and as PNG pictures.
//
// Example:
//   vit::InspectResult r = vit::inspect_images(model, pipe, vit::image_files({"cat.jpg"}), {.out_dir = "inspect"});
//   // inspect/cat_attention.png, inspect/cat_rollout.png, inspect/attention_distance.png
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vit/data.h"
#include "vit/image_io.h"
#include "vit/model.h"
#include "vit/transforms.h"

namespace vit {

// Attention rollout from the probabilities of every layer ([heads, N, N] each, first layer
// first): R = Â_L ... Â_1 with Â_l = 0.5 mean_h(A_l) + 0.5 I, each row divided by its sum. The
// identity stands for the residual connection; row i of R says how much token i's final
// representation draws on each input token. Returns R [N, N], row-major.
std::vector<double> attention_rollout(const std::vector<const float*>& layers, int64_t heads, int64_t tokens);

// The mean attention distance [layers, heads] in pixels: for each patch query, the distances from
// its patch centre to every patch key's centre weighted by its attention to the patch keys
// (renormalised to sum 1: the class token has no position), averaged over the queries. A
// hybrid's tokens are image_height / grid_height pixels apart (the area each one covers).
std::vector<double> mean_attention_distance(const std::vector<const float*>& layers, int64_t heads,
                                            const ViTConfig& config);

// The images to inspect, loaded one batch at a time.
struct ImageSource {
    std::vector<std::string> names;     // one per image: used in messages and as the pictures' file stem
    std::function<Image(int64_t)> load;  // image i, decoded
};

// Image files (decoded with at most max_pixels pixels each), named by their paths.
ImageSource image_files(const std::vector<std::string>& paths, int64_t max_pixels = kMaxImagePixels);

// The first `count` images of a dataset, named "<split>_<index>_<class name>" (characters other
// than letters and digits in the class name become '_').
ImageSource dataset_images(DatasetPtr data, int64_t count, const std::string& split);

struct InspectOptions {
    int64_t layer = -1;  // the layer whose heads are drawn (0-based; negative counts from the end)
    int64_t batch = 16;
    std::string out_dir = "inspect";
    std::vector<std::string> class_names = {};  // for the prediction on the pictures (else the index)
};

struct InspectedImage {
    std::string name;
    std::string attention_png;  // the image, the head mean and each head's class-token attention
    std::string rollout_png;    // the image and the class token's rollout over it
    std::vector<double> rollout;  // the class token's rollout row over the patches [grid_h, grid_w]
    std::vector<std::vector<float>> attention;  // the drawn layer's class-token attention over the
                                                // patches, per head [heads][grid_h * grid_w]
    int64_t top_class = -1;       // the most probable class (-1 for a features-only model)
    double top_probability = 0.0;
};

struct InspectResult {
    int64_t layer = 0;                   // the layer drawn, resolved
    std::vector<InspectedImage> images;
    std::vector<double> distance;        // [layers, heads], averaged over the images
    std::string distance_png;            // mean attention distance against depth, one dot per head
};

// Runs the model over the images (with `pipe`, the evaluation transforms) keeping every layer's
// attention, and writes the pictures into options.out_dir (created when missing), named after
// each image's file stem (with a number when two images share one). Throws vit::Error naming the
// image that cannot be loaded, or the layer when it is out of range.
InspectResult inspect_images(ViT& model, const Pipeline& pipe, const ImageSource& images, const InspectOptions& options);

}  // namespace vit
