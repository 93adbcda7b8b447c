// The training plot, curves.png: loss against step and top-1 accuracy against epoch.
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/json_input.h"
#include "train/chart.h"
#include "vit/error.h"
#include "vit/trainer.h"

namespace vit {

void write_training_plot(const std::string& metrics_path, const std::string& png_path, const std::string& note) {
    std::ifstream in(metrics_path);
    if (!in) fail("cannot read metrics '{}'", metrics_path);
    constexpr double kBlue[3] = {0.12, 0.47, 0.71}, kOrange[3] = {1.0, 0.5, 0.05};
    Line step_loss{.label = "train, logged steps", .rgb = {kBlue[0], kBlue[1], kBlue[2]}};
    Line epoch_loss{.label = "train, epoch mean", .rgb = {kBlue[0], kBlue[1], kBlue[2]}, .markers = true};
    Line eval_loss{.label = "val", .rgb = {kOrange[0], kOrange[1], kOrange[2]}, .markers = true};
    Line train_acc{.label = "train", .rgb = {kBlue[0], kBlue[1], kBlue[2]}, .markers = true};
    Line eval_acc{.label = "val", .rgb = {kOrange[0], kOrange[1], kOrange[2]}, .markers = true};
    std::string line;
    while (std::getline(in, line)) {
        auto j = parse_json_input(line, fmt::format("'{}'", metrics_path));
        if (j.is_discarded() || !j.contains("event")) continue;
        if (j["event"] == "step") {
            step_loss.x.push_back(j.value("step", 0.0));
            step_loss.y.push_back(j.value("loss", 0.0));
        } else if (j["event"] == "epoch") {
            epoch_loss.x.push_back(j.value("step", 0.0));
            epoch_loss.y.push_back(j.value("train_loss", 0.0));
            train_acc.x.push_back(j.value("epoch", 0.0));
            train_acc.y.push_back(100.0 * j.value("train_accuracy", 0.0));
            if (j.contains("eval_top1")) {
                eval_loss.label = eval_acc.label = j.value("eval_split", "val");
                eval_loss.x.push_back(j.value("step", 0.0));
                eval_loss.y.push_back(j.value("eval_loss", 0.0));
                eval_acc.x.push_back(j.value("epoch", 0.0));
                eval_acc.y.push_back(100.0 * j.value("eval_top1", 0.0));
            }
        }
    }
    // Logged steps when there are some to join; the epochs' means otherwise (a short run).
    const Line& train_loss = step_loss.x.size() >= 2 ? step_loss : epoch_loss;
    Chart chart(1100, 460);
    chart.panel({.x = 0, .y = 0, .w = 550, .h = 460, .title = "loss", .x_title = "step (optimizer updates)",
                 .y_title = "cross-entropy loss", .y_min = 0.0, .note = note},
                {train_loss, eval_loss});
    chart.panel({.x = 550, .y = 0, .w = 550, .h = 460, .title = "top-1 accuracy", .x_title = "epoch",
                 .y_title = "accuracy (%)", .y_max = 100.0, .whole_x = true},
                {train_acc, eval_acc});
    chart.write_png(png_path);
}

}  // namespace vit
