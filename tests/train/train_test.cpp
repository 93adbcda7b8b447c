// The training loop on real Fashion-MNIST subsets: it learns, a resumed run repeats the
// uninterrupted one bit for bit, a diverging run stops with a clear message and leaves its last
// checkpoint, and a stop request checkpoints. Plus recipes and schedules.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "test_util.h"
#include "train/run_folder.h"
#include "vit/checkpoint.h"
#include "vit/evaluate.h"
#include "vit/image_io.h"
#include "vit/schedule.h"
#include "vit/train_state.h"
#include "vit/trainer.h"

namespace vit {
namespace {

namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
    fs::path p = fs::temp_directory_path() / ("vit_train_test_" + name);
    fs::remove_all(p);
    return p.string();
}

// The summed losses of the first and the last n steps.
std::pair<double, double> first_and_last_losses(const std::vector<double>& losses, size_t n) {
    double first = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        first += losses[i];
        last += losses[losses.size() - 1 - i];
    }
    return {first, last};
}

// Checks that the losses of a run that stopped and of its resumption, joined, equal those of a
// straight run bit for bit.
void expect_resumed_equals_straight(const TrainResult& part, const TrainResult& rest, const TrainResult& straight) {
    std::vector<double> joined = part.losses;
    joined.insert(joined.end(), rest.losses.begin(), rest.losses.end());
    ASSERT_EQ(joined.size(), straight.losses.size());
    for (size_t i = 0; i < joined.size(); i++) {
        EXPECT_EQ(joined[i], straight.losses[i]) << "step " << i + 1;  // bit for bit
    }
}

// A small ViT on a stratified subset of Fashion-MNIST (the Debian package's files).
Recipe small_recipe(const std::string& out) {
    Recipe r = builtin_recipe("fashion-mnist");
    r.precision = Precision::F32;  // the built-in recipe takes bf16 where the CPU has it
    r.train_transforms = r.eval_transforms;  // no augmentation, as in the PyTorch run quoted below
    r.model.embed_dim = 32;
    r.model.depth = 2;
    r.model.num_heads = 2;
    r.model.mlp_dim = 64;
    r.model.patch_size = 7;
    r.label_smoothing = 0.0f;
    r.train_limit = 2000;
    r.test_limit = 500;
    r.batch_size = 50;
    r.epochs = 3;
    r.threads = 2;
    r.out_dir = out;
    return r;
}

TEST(Train, LearnsFashionMnist) {
    Recipe r = small_recipe(temp_dir("learns"));
    std::vector<std::string> messages;
    TrainCallbacks callbacks;
    callbacks.on_message = [&](const std::string& m) { messages.push_back(m); };
    TrainResult res = train(r, {}, callbacks);
    ASSERT_FALSE(messages.empty());
    EXPECT_EQ(messages[0], "data: 2000 training, 500 test images in 10 classes");
    // samples.png: 16 training images (28x28, 3x) with captions in a grid of 8 columns and 2 rows.
    const Image samples = decode_image_file(res.samples, int64_t{1} << 24);
    EXPECT_EQ(samples.width, 8 * (96 + 12) + 12);
    EXPECT_EQ(samples.height, 2 * (28 * 3 + 30) + 44);
    ASSERT_EQ(res.losses.size(), 120u);  // 3 epochs x 2000 / 50
    const auto [first, last] = first_and_last_losses(res.losses, 10);
    EXPECT_LT(last, 0.75 * first) << "the loss must fall";
    ASSERT_TRUE(res.test.has_value());
    EXPECT_EQ(res.test->samples, 500);
    // Chance is 0.1. This 2-block, dim-32 model reaches 0.55 here (PyTorch with the same model
    // and schedule: 0.45 on 2000 test images).
    EXPECT_GT(res.test->top1, 0.4);
    for (const std::string& path : {res.weights, res.checkpoint, res.metrics, res.plot, res.samples}) {
        EXPECT_TRUE(fs::exists(path)) << path;
    }
    // The weights file loads as a model and carries the class names.
    SafetensorsFile f = SafetensorsFile::open(res.weights);
    ViT model(config_from_safetensors(f));
    load_weights(model, f, {.strict = true});
    EXPECT_NE(f.metadata().at("vit.class_names").find("Ankle boot"), std::string::npos);
}

// A class-folder dataset of three Fashion-MNIST classes (T-shirt, Trouser, Bag) as PNG files.
std::string three_class_folders(const std::string& root, int64_t per_class) {
    const DatasetPtr fm = open_dataset(builtin_recipe("fashion-mnist").dataset, Split::Train);
    const std::pair<int32_t, const char*> classes[] = {{0, "tshirt"}, {1, "trouser"}, {8, "bag"}};
    for (const char* split : {"train", "test"}) {
        for (auto [label, name] : classes) fs::create_directories(fs::path(root) / split / name);
    }
    std::vector<int64_t> written(10, 0);
    for (int64_t i = 0; i < fm->size() && *std::min_element(written.begin(), written.begin() + 3) < 2 * per_class; i++) {
        for (auto [label, name] : classes) {
            int64_t& n = written[static_cast<size_t>(label == 8 ? 2 : label)];
            if (fm->label(i) != label || n >= 2 * per_class) continue;
            const Image img = fm->load(i);
            std::vector<uint8_t> pixels(img.hwc.size());
            for (size_t k = 0; k < pixels.size(); k++) pixels[k] = static_cast<uint8_t>(std::lround(img.hwc[k] * 255.0f));
            const char* split = n % 2 == 0 ? "train" : "test";
            write_png((fs::path(root) / split / name / fmt::format("{}.png", i)).string(), pixels.data(), 28, 28, 1);
            n++;
        }
    }
    return root;
}

// A recipe at size x size: its images resized to it before the other transforms.
void resize_first(Recipe& r, int64_t size) {
    r.model.image_height = r.model.image_width = size;
    Transform resize;
    resize.op = TransformOp::Resize;
    resize.height = resize.width = size;
    r.train_transforms.insert(r.train_transforms.begin(), resize);
    r.eval_transforms.insert(r.eval_transforms.begin(), resize);
}

// Pretrain on 10 classes at 28x28, fine-tune on 3 classes at 35x35 (position table 4x4 -> 5x5,
// new head) with the embeddings and the first block frozen for the first epoch.
TEST(Train, FineTunesAtANewSizeAndClassCount) {
    Recipe pre = small_recipe(temp_dir("pretrain"));
    pre.epochs = 2;
    const TrainResult base = train(pre, {}, {});

    Recipe ft = small_recipe(temp_dir("finetune"));
    ft.dataset = {.kind = "folder", .path = three_class_folders(temp_dir("three_classes"), 100)};
    ft.model.num_classes = 3;
    ft.model.embed_dim = 999;  // the architecture comes from the pretrained weights
    resize_first(ft, 35);
    ft.init = base.weights;
    ft.freeze_embeddings = true;
    ft.freeze_blocks = 1;
    ft.unfreeze_epoch = 1;
    ft.epochs = 3;
    ft.batch_size = 20;
    std::vector<std::string> messages;
    TrainCallbacks cb;
    cb.on_message = [&](const std::string& m) { messages.push_back(m); };
    const TrainResult res = train(ft, {}, cb);
    ASSERT_GE(messages.size(), 3u);
    EXPECT_EQ(messages[0], "fine-tuning from " + base.weights + " (timm names): new head for 3 classes (was 10); "
                           "position table resampled from 16 to 25 patches");
    EXPECT_EQ(messages[1], "data: 300 training, 300 test images in 3 classes");
    EXPECT_EQ(messages[2], "epoch 2: every parameter trains from now on");
    const auto [first, last] = first_and_last_losses(res.losses, 5);
    EXPECT_LT(last, 0.75 * first) << "the loss must fall";
    ASSERT_TRUE(res.test.has_value());
    EXPECT_EQ(res.test->samples, 300);
    // Chance: 1/3. Measured 0.64 (from scratch at 35x35: 0.55 after 3 epochs; the pretrained
    // model saw 28x28 images, so the resize changes what its patches look like).
    EXPECT_GT(res.test->top1, 0.5);

    SafetensorsFile f = SafetensorsFile::open(res.weights);
    const ViTConfig c = config_from_safetensors(f);
    EXPECT_EQ(c.embed_dim, 32);
    EXPECT_EQ(c.num_tokens(), 26);
    EXPECT_EQ(c.num_classes, 3);
}

// The position kinds that are not timm's learn, and fine-tune at another size: the per-axis
// tables are resampled to the new grid, the sin-cos table is made for it.
TEST(Train, PositionKindsLearnAndFineTuneAtANewSize) {
    for (PosEmbed kind : {PosEmbed::Learned2d, PosEmbed::SinCos2d}) {
        const std::string name = pos_embed_name(kind);
        Recipe pre = small_recipe(temp_dir("pre_" + name));
        pre.model.pos_embed = kind;
        const TrainResult base = train(pre, {}, {});
        // Chance is 0.1; measured 0.55 (learned_2d) and 0.40 (sincos_2d, whose fixed unit-size
        // table outweighs the small patch tokens early on).
        ASSERT_TRUE(base.test.has_value());
        EXPECT_GT(base.test->top1, 0.3) << name;

        Recipe ft = small_recipe(temp_dir("ft_" + name));
        resize_first(ft, 35);
        ft.init = base.weights;
        ft.epochs = 1;
        ft.train_limit = 200;
        ft.test_limit = 100;
        std::vector<std::string> messages;
        TrainCallbacks cb;
        cb.on_message = [&](const std::string& m) { messages.push_back(m); };
        const TrainResult res = train(ft, {}, cb);
        ASSERT_FALSE(messages.empty());
        const std::string note = kind == PosEmbed::Learned2d ? "position tables resampled from a 4x4 to a 5x5 grid"
                                                             : "all tensors loaded as they are";
        EXPECT_EQ(messages[0], "fine-tuning from " + base.weights + " (timm names): " + note);
        const SafetensorsFile f = SafetensorsFile::open(res.weights);
        EXPECT_EQ(config_from_safetensors(f).pos_embed, kind);
        if (kind == PosEmbed::Learned2d) {
            EXPECT_EQ(f.get("pos_embed_row").shape, (std::vector<int64_t>{5, 16}));
            EXPECT_EQ(f.get("pos_embed_col").shape, (std::vector<int64_t>{5, 16}));
        } else {
            EXPECT_FALSE(f.find("pos_embed") != nullptr) << "the sin-cos table is not a weight";
        }
        ASSERT_TRUE(res.test.has_value());
        EXPECT_TRUE(std::isfinite(res.test->loss));
    }
}

TEST(Train, FrozenParametersStayFixed) {
    Recipe pre = small_recipe(temp_dir("pretrain_frozen"));
    pre.epochs = 1;
    pre.train_limit = 500;
    const TrainResult base = train(pre, {}, {});
    Recipe ft = pre;
    ft.out_dir = temp_dir("frozen");
    ft.init = base.weights;
    ft.freeze_embeddings = true;
    ft.freeze_blocks = 1;
    const TrainResult res = train(ft, {}, {});
    const SafetensorsFile before = SafetensorsFile::open(base.weights), after = SafetensorsFile::open(res.weights);
    for (const TensorEntry& t : before.tensors()) {
        const bool frozen = t.name.starts_with("blocks.0.") || t.name.starts_with("patch_embed.") ||
                            t.name == "cls_token" || t.name == "pos_embed";
        if (frozen) {
            EXPECT_EQ(before.read_f32(t.name), after.read_f32(t.name)) << t.name;
        } else if (t.name.ends_with(".weight")) {
            EXPECT_NE(before.read_f32(t.name), after.read_f32(t.name)) << t.name;
        }
    }
    ft.freeze_blocks = 3;
    EXPECT_VIT_ERROR(train(ft, {}, {}), "freeze_blocks must be in [0, depth = 2], got 3");
}

TEST(Train, MixedPrecisionLearnsAndResumesExactly) {
    Recipe r = small_recipe(temp_dir("bf16"));
    r.precision = Precision::BF16;
    r.epochs = 2;
    const TrainResult straight = train(r, {}, {});
    ASSERT_EQ(straight.losses.size(), 80u);
    const auto [first, last] = first_and_last_losses(straight.losses, 10);
    EXPECT_LT(last, 0.8 * first) << "the loss must fall";
    ASSERT_TRUE(straight.test.has_value());
    EXPECT_GT(straight.test->top1, 0.3);  // chance: 0.1
    EXPECT_EQ(recipe_from_checkpoint(straight.checkpoint).precision, Precision::BF16);

    r.out_dir = temp_dir("bf16_resumed");
    const TrainResult part = train(r, {.max_steps = 50}, {});
    const TrainResult rest = train(r, {.resume = part.checkpoint}, {});
    expect_resumed_equals_straight(part, rest, straight);
}

TEST(Train, ResumeIsBitExact) {
    // Everything random at once: augmentation, Mixup and CutMix, dropout, drop-path, label
    // smoothing, clipping, accumulation, a cosine schedule with warmup.
    Recipe r = small_recipe(temp_dir("straight"));
    r.train_limit = 600;
    r.epochs = 2;
    r.accumulate = 2;
    r.batch_size = 25;
    r.model.drop_rate = 0.1f;
    r.model.drop_path_rate = 0.1f;
    r.label_smoothing = 0.1f;
    r.mix = {.mixup_alpha = 0.8f, .cutmix_alpha = 1.0f};
    r.clip_grad_norm = 1.0f;
    r.warmup_epochs = 0.5;
    Transform crop;
    crop.op = TransformOp::RandomCrop;
    crop.height = crop.width = 28;
    crop.padding = 2;
    Transform flip;
    flip.op = TransformOp::HorizontalFlip;
    r.train_transforms.insert(r.train_transforms.begin(), {crop, flip});
    const TrainResult straight = train(r, {}, {});
    ASSERT_EQ(straight.losses.size(), 24u);  // 2 epochs x 12 steps

    r.out_dir = temp_dir("resumed");
    const TrainResult first = train(r, {.max_steps = 17}, {});  // stops inside epoch 2
    ASSERT_TRUE(first.interrupted);
    const TrainResult second = train(r, {.resume = first.checkpoint}, {});
    std::vector<double> joined = first.losses;
    joined.insert(joined.end(), second.losses.begin(), second.losses.end());
    ASSERT_EQ(joined.size(), straight.losses.size());
    for (size_t i = 0; i < joined.size(); i++) {
        EXPECT_EQ(joined[i], straight.losses[i]) << "step " << i + 1;  // bit for bit
    }
    EXPECT_EQ(second.test->top1, straight.test->top1);
}

TEST(Train, StopRequestWritesACheckpoint) {
    Recipe r = small_recipe(temp_dir("stop"));
    std::atomic<bool> stop{true};
    TrainResult res = train(r, {.stop = &stop}, {});
    EXPECT_TRUE(res.interrupted);
    EXPECT_EQ(res.steps, 1);
    EXPECT_EQ(recipe_from_checkpoint(res.checkpoint).model.to_json(), r.model.to_json());
}

// One run per output folder: a second run while the first holds it is refused, as is a new run
// into a folder that holds a run, unless asked to overwrite; half-written files of an
// interrupted run are removed.
TEST(Train, OutputFolderHoldsOneRun) {
    Recipe r = small_recipe(temp_dir("one_run"));
    r.train_limit = 200;
    r.epochs = 1;
    {
        const RunFolder other(r.out_dir, RunFolder::Use::New);  // as another process would hold it
        EXPECT_VIT_ERROR(train(r, {}, {}), fmt::format("the output folder '{}' is in use by another vit train run "
                                                       "(process {}); wait for it to end or choose another --out",
                                                       r.out_dir, ::getpid()));
    }
    const TrainResult first = train(r, {}, {});
    EXPECT_VIT_ERROR(train(r, {}, {}), fmt::format("the output folder '{}' already holds a run (checkpoint.safetensors); "
                                                   "continue it with --resume {}, choose another --out, or pass "
                                                   "--overwrite to replace it", r.out_dir, first.checkpoint));
    const std::string debris = first.checkpoint + ".tmp.99999";
    std::ofstream(debris) << "half a checkpoint";
    const TrainResult again = train(r, {.overwrite = true}, {});
    EXPECT_FALSE(fs::exists(debris));
    EXPECT_EQ(again.losses, first.losses);
}

// A checkpoint whose position its recipe cannot reach is refused before training.
TEST(Train, ResumeRefusesAnImpossiblePosition) {
    Recipe r = small_recipe(temp_dir("position"));
    const TrainResult res = train(r, {.max_steps = 3}, {});
    ViT model(r.model);
    Optimizer optimizer(model, r.optimizer);
    TrainState state = load_training_checkpoint(res.checkpoint, model, optimizer);
    EXPECT_EQ(state.step, 3);
    const std::vector<std::string> names(10, "class");
    state.epoch_correct = state.epoch_seen + 1;
    save_training_checkpoint(res.checkpoint, model, optimizer, r, state, names);
    EXPECT_VIT_ERROR_HAS(train(r, {.resume = res.checkpoint}, {}),
                         "the checkpoint's position (epoch 0, batch 3, step 3, 151 correct of 150 images seen) does not "
                         "fit its recipe (3 epochs of 40 batches of 50, 120 steps)");
    state.epoch_correct = 0;
    state.epoch = 7;
    save_training_checkpoint(res.checkpoint, model, optimizer, r, state, names);
    EXPECT_VIT_ERROR_HAS(train(r, {.resume = res.checkpoint}, {}), "the checkpoint's position (epoch 7, batch 3");
}

TEST(Train, DivergenceStopsWithAClearMessageAndKeepsTheLastCheckpoint) {
    Recipe r = small_recipe(temp_dir("nan"));
    r.optimizer = {.kind = OptimizerKind::SGD, .lr = 9.0f, .weight_decay = 0.0f, .momentum = 0.99f};
    r.warmup_epochs = 0;
    r.schedule = ScheduleKind::Constant;
    r.checkpoint_every = 1;
    EXPECT_VIT_ERROR_HAS(train(r, {}, {}), "; training stopped. The last good checkpoint, if any, is '");
    const std::string ckpt = (fs::path(r.out_dir) / "checkpoint.safetensors").string();
    ASSERT_TRUE(fs::exists(ckpt));
    SafetensorsFile f = SafetensorsFile::open(ckpt);
    for (const TensorEntry& t : f.tensors()) {
        for (float v : f.read_f32(t.name)) ASSERT_TRUE(std::isfinite(v)) << t.name;
    }
}

TEST(Train, ResumeRefusesAnotherModel) {
    Recipe r = small_recipe(temp_dir("other"));
    TrainResult res = train(r, {.max_steps = 1}, {});
    r.model.depth = 3;
    EXPECT_VIT_ERROR_HAS(train(r, {.resume = res.checkpoint}, {}), "holds a different model than the recipe's");
    r.model.depth = 2;
    r.optimizer.kind = OptimizerKind::SGD;
    EXPECT_VIT_ERROR_HAS(train(r, {.resume = res.checkpoint}, {}), "was trained with optimizer adamw, the recipe asks for sgd");
    EXPECT_VIT_ERROR_HAS(train(r, {.resume = res.weights.empty() ? "x" : res.checkpoint + ".missing"}, {}), "cannot open");
}

// Flip test-time augmentation: each image's logits are the mean of its own and its mirror
// image's, computed here one image at a time.
TEST(Evaluate, FlipAveragesTheLogitsOfTheMirrorImage) {
    const DatasetPtr data = stratified_subset(open_dataset(builtin_recipe("fashion-mnist").dataset, Split::Test), 40, 1);
    const ViTConfig c = builtin_recipe("fashion-mnist").model;
    ViT model(c);
    model.init_weights(3);
    const Pipeline pipe({}, 1, 28, 28);
    DataLoader loader(data, pipe, {.batch_size = 16, .workers = 0});
    const EvalResult flip = evaluate(model, loader, true), plain = evaluate(model, loader, false);
    int64_t hits = 0;
    double loss = 0.0;
    Rng rng(0);
    for (int64_t i = 0; i < data->size(); i++) {
        std::vector<float> x(28 * 28), mirror(28 * 28);
        pipe.apply(data->load(i), rng, x.data());
        for (int64_t y = 0; y < 28; y++) std::reverse_copy(&x[y * 28], &x[y * 28] + 28, &mirror[y * 28]);
        const float* a = model.forward(x.data(), 1, {});
        std::vector<double> logits(a, a + 10);
        const float* b = model.forward(mirror.data(), 1, {});
        for (int64_t k = 0; k < 10; k++) logits[k] = 0.5 * (logits[k] + b[k]);
        const int32_t target = data->label(i);
        hits += std::max_element(logits.begin(), logits.end()) - logits.begin() == target;
        double sum = 0.0;
        for (double v : logits) sum += std::exp(v);
        loss += std::log(sum) - logits[target];
    }
    EXPECT_EQ(flip.top1, static_cast<double>(hits) / 40.0);
    EXPECT_NEAR(flip.loss, loss / 40.0, 1e-5);
    EXPECT_GT(std::fabs(flip.loss - plain.loss), 1e-4);  // the mirror images count
}

TEST(Recipe, JsonRoundTripAndErrors) {
    const Recipe r = builtin_recipe("cifar10");
    const Recipe defaults;
    const Recipe back = recipe_from_json(recipe_to_json(r), "roundtrip", defaults);
    EXPECT_EQ(recipe_to_json(back), recipe_to_json(r));
    EXPECT_VIT_ERROR(recipe_from_json(R"({"training": {"epoch": 3}})", "a.json", defaults),
                     "recipe a.json: unknown key 'training.epoch' (valid keys: epochs, batch_size, accumulate, "
                     "label_smoothing, mixup_alpha, cutmix_alpha, mix_prob, mix_switch_prob, clip_grad_norm, seed, "
                     "precision, eval_flip)");
    const Recipe mixing = recipe_from_json(R"({"training": {"mixup_alpha": 0.8, "cutmix_alpha": 1.0, "mix_prob": 0.5}})",
                                           "m.json", defaults);
    EXPECT_EQ(mixing.mix.mixup_alpha, 0.8f);
    EXPECT_EQ(mixing.mix.cutmix_alpha, 1.0f);
    EXPECT_EQ(mixing.mix.prob, 0.5f);
    EXPECT_EQ(mixing.mix.switch_prob, 0.5f);
    EXPECT_EQ(recipe_to_json(recipe_from_json(recipe_to_json(mixing), "n.json", defaults)), recipe_to_json(mixing));
    Recipe bad_mix = mixing;
    bad_mix.mix.cutmix_alpha = -1.0f;
    EXPECT_VIT_ERROR(bad_mix.validate(), "cutmix_alpha must be a number in [0, 100], got -1");
    bad_mix = mixing;
    bad_mix.mix.prob = 2.0f;
    EXPECT_VIT_ERROR(bad_mix.validate(), "mix_prob must be a number in [0, 1], got 2");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"training": {"precision": "fp16"}})", "p.json", defaults),
                     "recipe p.json: 'training.precision' must be one of \"fp32\", \"bf16\", got \"fp16\"");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"optimizer": {"lr": "fast"}})", "b.json", defaults),
                     "recipe b.json: 'optimizer.lr' must be a number in (0, 10), got \"fast\"");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"optimizer": {"kind": "lamb"}})", "c.json", defaults),
                     "recipe c.json: 'optimizer.kind' must be one of \"adamw\", \"adam\", \"sgd\", got \"lamb\"");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"train_transforms": [{"op": "blur"}]})", "d.json", defaults),
                     "recipe d.json: 'train_transforms[0].op' is 'blur'; expected one of: resize, center_crop, "
                     "random_resized_crop, random_crop, horizontal_flip, rand_augment, normalize, random_erasing");
    const Recipe erasing = recipe_from_json(
        R"({"train_transforms": [{"op": "normalize", "mean": [0.5], "std": [0.5]},
                                 {"op": "random_erasing", "p": 0.25, "value": "random"}]})", "g.json", defaults);
    ASSERT_EQ(erasing.train_transforms.size(), 2u);
    EXPECT_EQ(erasing.train_transforms[1].op, TransformOp::RandomErasing);
    EXPECT_EQ(erasing.train_transforms[1].p, 0.25);
    EXPECT_EQ(erasing.train_transforms[1].scale[1], 0.33f);  // torchvision's defaults for the rest
    EXPECT_TRUE(erasing.train_transforms[1].erase_random);
    EXPECT_EQ(recipe_to_json(recipe_from_json(recipe_to_json(erasing), "h.json", defaults)), recipe_to_json(erasing));
    const Recipe augmenting = recipe_from_json(
        R"({"train_transforms": [{"op": "rand_augment", "num_ops": 3, "magnitude": 12},
                                 {"op": "normalize", "mean": [0.5], "std": [0.5]}]})", "j.json", defaults);
    EXPECT_EQ(augmenting.train_transforms[0].op, TransformOp::RandAugment);
    EXPECT_EQ(augmenting.train_transforms[0].num_ops, 3);
    EXPECT_EQ(augmenting.train_transforms[0].magnitude, 12);
    EXPECT_EQ(augmenting.train_transforms[0].magnitude_bins, 31);  // torchvision's default
    EXPECT_EQ(recipe_to_json(recipe_from_json(recipe_to_json(augmenting), "k.json", defaults)),
              recipe_to_json(augmenting));
    EXPECT_VIT_ERROR(recipe_from_json(R"({"train_transforms": [{"op": "rand_augment", "magnitude": 31}]})", "l.json",
                                      defaults),
                     "recipe l.json: 'train_transforms[0].magnitude' must be an integer in [0, 30], got 31");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"train_transforms": [{"op": "normalize", "mean": [0.5, 0.5, 0.5],
                                                               "std": [0.5, 0.5, 0.5]},
                                                              {"op": "rand_augment"}]})", "m.json", defaults)
                         .validate(),
                     "transform normalize must come after every transform but random_erasing, but rand_augment "
                     "(number 2 of 2) follows it");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"train_transforms": [{"op": "random_erasing", "value": "noise"}]})", "i.json",
                                      defaults),
                     "recipe i.json: 'train_transforms[0].value' must be a number or \"random\", got \"noise\"");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"model": {"preset": "vit_tiny_patch16_224", "depth": "x"}})", "e.json", defaults),
                     "recipe e.json: model config: 'depth' must be an integer, got \"x\"");
    EXPECT_VIT_ERROR(recipe_from_json("{", "f.json", defaults), "recipe f.json: not valid JSON");
    // Each bad value is blamed on its own field, with its range; a typo in any section lists the
    // valid keys; numbers print as they were written.
    EXPECT_VIT_ERROR(recipe_from_json(R"({"optimizer": {"lr": -1}})", "lr.json", defaults),
                     "recipe lr.json: 'optimizer.lr' must be a number in (0, 10), got -1");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"data": {"kind": "imagenet"}})", "kind.json", defaults),
                     "recipe kind.json: 'data.kind' must be one of \"fashion-mnist\", \"mnist\", \"cifar10\", "
                     "\"cifar100\", \"folder\", \"filenames\", got \"imagenet\"");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"optimizer": {"lr": 0.1, "lr": 0.2}})", "twice.json", defaults),
                     "recipe twice.json: key \"lr\" appears twice in one object");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"model": {"depth": )" + std::string(70000, '[') + std::string(70000, ']') + "}}",
                                      "deep.json", defaults),
                     "recipe deep.json: JSON nested deeper than 64 levels");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"model": {"depth": [[1]]}})", "list.json", defaults),
                     "recipe list.json: model config: 'depth' must be an integer, got a list of lists or objects");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"training": {"seed": 9007199254740993}})", "seed.json", defaults),
                     "recipe seed.json: 'training.seed' must be an integer in [0, 9007199254740992], got 9007199254740993");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"model": {"dpeth": 3}})", "m.json", defaults),
                     "recipe m.json: model config: unknown key 'dpeth' (valid keys: image_height, image_width, "
                     "patch_size, channels, embed_dim, depth, num_heads, head_dim, mlp_dim, qkv_bias, pool, fc_norm, "
                     "pre_logits_dim, num_classes, layernorm_eps, gelu, drop_rate, attn_drop_rate, drop_path_rate, "
                     "patch_norm, post_norm, mlp_relu, init_values, pos_embed, hybrid, hybrid_width, hybrid_layers)");
    EXPECT_VIT_ERROR(recipe_from_json(R"({"trainig": {}})", "top.json", defaults),
                     "recipe top.json: unknown key 'trainig' (valid keys: name, model, train_transforms, "
                     "eval_transforms, data, optimizer, schedule, training, finetune, run)");
    Recipe low_lr = builtin_recipe("fashion-mnist");
    low_lr.optimizer.lr = 0.002f;
    low_lr.min_lr = 0.01f;
    EXPECT_VIT_ERROR(low_lr.validate(), "min_lr must be at most lr = 0.002, got 0.01");
    EXPECT_NE(recipe_to_json(low_lr).find("\"lr\": 0.002,"), std::string::npos);
    // The command line's words go through the same table, with the same ranges.
    const RecipeField& epochs = *std::find_if(recipe_fields().begin(), recipe_fields().end(),
                                              [](const RecipeField& f) { return f.flag == "--epochs"; });
    Recipe flags = builtin_recipe("cifar10");
    EXPECT_VIT_ERROR(set_recipe_field(flags, epochs, "2.5"), "--epochs: must be an integer in [1, 100000], got '2.5'");
    EXPECT_VIT_ERROR(set_recipe_field(flags, epochs, "0"), "--epochs: must be an integer in [1, 100000], got 0");
    set_recipe_field(flags, epochs, "7");
    EXPECT_EQ(flags.epochs, 7);
    EXPECT_VIT_ERROR(load_recipe("imagenet"), "recipe 'imagenet' is neither a built-in recipe (fashion-mnist, cifar10) nor an existing file");
    Recipe bad = builtin_recipe("fashion-mnist");
    bad.model.num_classes = 7;
    bad.out_dir = temp_dir("classes");
    EXPECT_VIT_ERROR(train(bad, {}, {}), "the dataset has 10 classes but the model has num_classes = 7");
}

TEST(Schedule, WarmupCosineAndStep) {
    Schedule cosine{.kind = ScheduleKind::Cosine, .base_lr = 1.0f, .warmup_steps = 4, .total_steps = 14, .min_lr = 0.1f};
    EXPECT_FLOAT_EQ(cosine.lr(0), 0.25f);
    EXPECT_FLOAT_EQ(cosine.lr(3), 1.0f);
    EXPECT_FLOAT_EQ(cosine.lr(4), 1.0f);
    EXPECT_NEAR(cosine.lr(9), 0.55f, 1e-6);
    EXPECT_NEAR(cosine.lr(14), 0.1f, 1e-6);
    Schedule step{.kind = ScheduleKind::Step, .base_lr = 1.0f, .step_size = 3, .gamma = 0.5f};
    EXPECT_FLOAT_EQ(step.lr(2), 1.0f);
    EXPECT_FLOAT_EQ(step.lr(3), 0.5f);
    EXPECT_FLOAT_EQ(step.lr(7), 0.25f);
    Schedule constant{.kind = ScheduleKind::Constant, .base_lr = 0.3f};
    EXPECT_FLOAT_EQ(constant.lr(1000), 0.3f);
    EXPECT_VIT_ERROR(parse_schedule("linear"), "unknown schedule 'linear' (expected one of: cosine, step, constant)");
}

}  // namespace
}  // namespace vit
