// The training plot: two panels (loss against step, accuracy against epoch), written as PNG.
#include <fstream>
#include <nlohmann/json.hpp>

#include "canvas.h"
#include "core/json_input.h"
#include "vit/error.h"
#include "vit/image_io.h"
#include "vit/trainer.h"

namespace vit {

void write_training_plot(const std::string& metrics_path, const std::string& png_path) {
    std::ifstream in(metrics_path);
    if (!in) fail("cannot read metrics '{}'", metrics_path);
    Series step_loss{.color = kBlue, .label = "train"}, eval_loss{.color = kOrange, .label = "val"};
    Series train_acc{.color = kBlue, .label = "train"}, eval_acc{.color = kOrange, .label = "val"};
    std::string line;
    while (std::getline(in, line)) {
        auto j = parse_json_input(line, fmt::format("'{}'", metrics_path));
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
    draw_panel(cv, 0, 0, 500, 420, "loss", "step", {step_loss, eval_loss}, false);
    draw_panel(cv, 500, 0, 500, 420, "accuracy", "epoch", {train_acc, eval_acc}, true);
    write_png(png_path, cv.data(), 420, 1000, 3);
}

}  // namespace vit
