// vit: the command-line tool. Parses and validates flags, calls the library, prints results.
// Exit codes: 0 success, 1 error (bad file, bad config, ...), 2 bad command line.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli_names.h"
#include "commands.h"
#include "vit/config.h"
#include "vit/data.h"
#include "vit/error.h"

namespace {

// --precision: checked as a word, held as vit::Precision from here to the kernels.
template <typename Target>
CLI::Option* add_precision_flag(CLI::App* cmd, Target& target, const std::string& help) {
    return cmd->add_option_function<std::string>("--precision", [&target](const std::string& name) {
        target = vit::parse_precision(name);
    }, help)->check(CLI::IsMember({"fp32", "bf16"}));
}

void add_model_flags(CLI::App* cmd, vit::tools::ModelSource& m) {
    auto* preset = cmd->add_option("--preset", m.preset,
                                   "model preset, e.g. vit_base_patch16_224 (vit_<tiny|small|base|"
                                   "large|huge>_patch<32|16|14|8>_<image size>)");
    auto* weights = cmd->add_option("--weights", m.weights,
                                    "weights: safetensors (timm or Hugging Face names), PyTorch .pth/.pt/.bin "
                                    "(timm or torchvision names) or JAX .npz");
    auto* config = cmd->add_option("--config", m.config,
                                   "a JSON file of model fields, e.g. {\"embed_dim\": 192, \"depth\": 6}; "
                                   "unset fields keep vit_base_patch16_224's values");
    preset->excludes(weights);
    config->excludes(preset)->excludes(weights);
    cmd->add_option("--heads", m.num_heads, "number of heads, for files without config metadata")
        ->check(CLI::Range(int64_t{1}, int64_t{1024}));
    cmd->add_option("--classes", m.num_classes, "replace the class count (0 = features)")
        ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
    cmd->add_option("--image-size", m.image_size, "square input size in pixels")
        ->check(CLI::Range(int64_t{1}, int64_t{16384}));
}

// The flags of the commands that run a model over images (predict, inspect).
void add_image_run_flags(CLI::App* cmd, vit::tools::ImageRunOptions& o, bool images_required) {
    cmd->add_option("--weights", o.model.weights,
                    "weights: safetensors (timm or Hugging Face names, or from vit train), PyTorch "
                    ".pth/.pt/.bin (timm or torchvision names) or JAX .npz")->required();
    auto* images = cmd->add_option("images", o.inputs, "image files (JPEG, PNG) and folders of them");
    if (images_required) images->required();
    cmd->add_option("--batch", o.batch, "images per forward pass")->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{4096}));
    cmd->add_option("--threads", o.threads, "compute threads (default: every core)")->check(CLI::Range(1, 1024));
    cmd->add_option("--preprocess", o.preprocess,
                    "preprocessing preset (default: the recipe of a vit train checkpoint, else the "
                    "preset of the weights' origin)")->check(CLI::IsMember({"timm", "torchvision", "hf"}));
    add_precision_flag(cmd, o.precision, "fp32 (default), or bf16 matrix products with fp32 accumulation");
    cmd->add_option("--labels", o.labels, "class names, one per line (default: from the weights, "
                    "or ImageNet-1k's for 1000 classes)");
    cmd->add_option("--heads", o.model.num_heads, "number of heads, for files that cannot tell")
        ->check(CLI::Range(int64_t{1}, int64_t{1024}));
    cmd->add_option("--image-size", o.model.image_size, "run at this square input size (the position "
                    "table is resampled)")->check(CLI::Range(int64_t{1}, int64_t{16384}));
    cmd->add_flag("--non-strict", o.non_strict, "load what matches; report missing and unused tensors");
    cmd->add_flag("--json", o.json, "print one JSON object");
}

// A flag for each recipe setting that has one (recipe_fields(): one table for the JSON keys, the
// flags, their ranges and their messages); vit eval takes those that concern evaluation.
void add_recipe_flags(CLI::App* cmd, vit::tools::RecipeOverrides& o, bool training) {
    for (const vit::RecipeField& f : vit::recipe_fields()) {
        if (f.flag.empty() || (!training && !f.for_evaluation)) {
            continue;
        }
        const std::string help = f.help + " (" + f.section + "." + f.key + ")";
        if (f.type == vit::RecipeField::Type::Boolean) {
            cmd->add_flag_callback(f.flag, [&o, &f] { o.settings.emplace_back(&f, "true"); }, help);
            continue;
        }
        const std::string names = f.flag == "--batch" ? "--batch,--batch-size" : f.flag;
        cmd->add_option_function<std::string>(names, [&o, &f](const std::string& text) { o.settings.emplace_back(&f, text); },
                                              help)
            ->type_name(f.type == vit::RecipeField::Type::Integer  ? "INT"
                        : f.type == vit::RecipeField::Type::Number ? "NUMBER"
                                                                   : "TEXT")
            ->check(CLI::Validator(
                [&f](std::string& text) {
                    const std::optional<vit::RecipeValue> v = f.parse(text);
                    if (!v) return "must be " + f.expectation() + ", got '" + text + "'";
                    return f.check(*v);
                },
                ""));
    }
    if (!training) {
        return;
    }
    cmd->add_option("--rand-augment", o.rand_augment,
                    "RandAugment before normalize in the training transforms: N,M = N operations at magnitude M of 30 "
                    "(torchvision's RandAugment(N, M); 2,9 is its default)")
        ->expected(2)
        ->delimiter(',')
        ->check(CLI::Range(int64_t{0}, int64_t{30}));
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"vit: Vision Transformers in C++ (train, evaluate, run and inspect ViT models)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "vit " VIT_VERSION);

    vit::tools::InfoOptions info;
    auto* info_cmd = app.add_subcommand("info", "print a model's config, parameter count and forward FLOPs");
    add_model_flags(info_cmd, info.model);
    info_cmd->add_flag("--json", info.json, "print JSON instead of a table");

    vit::tools::BenchOptions bench;
    auto* bench_cmd = app.add_subcommand("bench", "measure forward and training-step images/s");
    add_model_flags(bench_cmd, bench.model);
    bench_cmd->add_option("--batch", bench.batch, "images per batch")
        ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{4096}));
    bench_cmd->add_option("--threads", bench.threads, "threads for every kernel")
        ->capture_default_str()->check(CLI::Range(1, 1024));
    bench_cmd->add_option("--repeats", bench.repeats, "timed repetitions (min and median reported)")
        ->capture_default_str()->check(CLI::Range(1, 1000));
    bench_cmd->add_option("--warmup", bench.warmup, "untimed repetitions first")
        ->capture_default_str()->check(CLI::Range(0, 100));
    bench_cmd->add_option("--mode", bench.mode, "what to time")
        ->capture_default_str()->check(CLI::IsMember({"forward", "train", "both"}));
    add_precision_flag(bench_cmd, bench.precision, "fp32 (default), or bf16 matrix products with fp32 accumulation");
    bench_cmd->add_flag("--json", bench.json, "print one JSON object");
    bench_cmd->add_flag_callback("--no-peak", [&bench] { bench.peak = false; },
                                 "skip measuring the machine's peak (fp32, and bf16 with --precision bf16)");

    vit::tools::TrainCliOptions train;
    auto* train_cmd = app.add_subcommand("train", "train a ViT from a recipe (default: fashion-mnist)");
    train_cmd->add_option("--recipe", train.recipe,
                          "built-in recipe (fashion-mnist, cifar10) or a recipe JSON file");
    train_cmd->add_option("--resume", train.resume, "continue from a checkpoint.safetensors written by vit train");
    train_cmd->add_flag("--overwrite", train.overwrite, "replace a run already in the output folder (refused otherwise)");
    train_cmd->add_option("--max-steps", train.max_steps, "stop (with a checkpoint) after this many steps")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
    train_cmd->add_flag("--print-recipe", train.print_recipe, "print the resolved recipe as JSON and exit");
    train_cmd->add_option("--bucket-mb", train.bucket_mb, "under mpirun: MiB of gradients summed per collective")
        ->capture_default_str()->check(CLI::Range(0.001, 4096.0));
    train_cmd->add_flag("--shard-optimizer", train.shard_optimizer,
                        "under mpirun: each rank keeps and updates the optimizer state of 1/N of the parameters (ZeRO-1)");
    train_cmd->add_option("--rank-timeout", train.rank_timeout_s,
                          "under mpirun: seconds a rank waits for the others before it ends the job")
        ->capture_default_str()->check(CLI::Range(1.0, 86400.0));
    add_recipe_flags(train_cmd, train.overrides, true);

    vit::tools::EvalCliOptions eval;
    auto* eval_cmd = app.add_subcommand("eval", "top-1/top-5, per-class accuracy and confusion matrix of a trained model");
    eval_cmd->add_option("--weights", eval.weights,
                         "weights of any format: model.safetensors or checkpoint.safetensors written by vit train, or "
                         "others with --recipe")
        ->required();
    eval_cmd->add_option("--recipe", eval.recipe, "recipe for files without one (data and transforms)");
    eval_cmd->add_option("--heads", eval.num_heads, "number of heads, for files that cannot tell")
        ->check(CLI::Range(int64_t{1}, int64_t{1024}));
    eval_cmd->add_option("--split", eval.split, "which split to evaluate")->capture_default_str()
        ->check(CLI::IsMember({"test", "train"}));
    eval_cmd->add_option("--batch", eval.batch, "images per batch")->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{65536}));
    eval_cmd->add_option("--json", eval.json_out, "also write the results to this JSON file");
    add_recipe_flags(eval_cmd, eval.overrides, false);

    vit::tools::PredictCliOptions predict;
    auto* predict_cmd = app.add_subcommand("predict", "top-k classes of images with pretrained or trained weights");
    add_image_run_flags(predict_cmd, predict.run, true);
    predict_cmd->add_option("--top-k", predict.top_k, "classes to show per image")->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1000000}));

    vit::tools::InspectCliOptions inspect;
    auto* inspect_cmd = app.add_subcommand("inspect", "attention maps, attention rollout and mean attention distance "
                                                       "of images, as PNG pictures");
    add_image_run_flags(inspect_cmd, inspect.run, false);
    inspect_cmd->add_option("--test-images", inspect.test_images, "also the first N test images of the dataset "
                            "named in the weights' recipe (weights from vit train)")
        ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
    inspect_cmd->add_option("--layer", inspect.layer, "draw the heads of this layer (0-based; -1 is the last)")
        ->capture_default_str()->check(CLI::Range(int64_t{-100000}, int64_t{100000}));
    inspect_cmd->add_option("--out", inspect.out, "folder for the pictures")->capture_default_str();

    vit::tools::ServeCliOptions serve;
    auto* serve_cmd = app.add_subcommand("serve", "an HTTP inference server: KServe v2 (JSON and binary tensors, "
                                                   "classification), /v1 classify, dynamic batching, /metrics");
    auto* serve_weights = serve_cmd->add_option("--weights", serve.weights, "weights of any format, served as --name");
    serve_cmd->add_option("--name", serve.name, "the model's name in URLs (/v2/models/NAME/infer)")
        ->capture_default_str()->needs(serve_weights);
    serve_cmd->add_option("--model", serve.models, "NAME=PATH: another model to serve (repeatable)");
    serve_cmd->add_option("--host", serve.host, "address to listen on (0.0.0.0 or :: for every interface)")
        ->capture_default_str();
    serve_cmd->add_option("--port", serve.port, "TCP port (0: any free port, printed)")
        ->capture_default_str()->check(CLI::Range(0, 65535));
    serve_cmd->add_option("--max-batch", serve.max_batch, "most images per forward pass")
        ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1024}));
    serve_cmd->add_option("--max-delay-ms", serve.max_delay_ms, "longest wait for a batch to fill, in ms")
        ->capture_default_str()->check(CLI::Range(0.0, 10000.0));
    serve_cmd->add_option("--queue", serve.queue, "most images waiting (all models); more are answered 503")
        ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    serve_cmd->add_option("--threads", serve.threads, "compute threads (default: every core)")->check(CLI::Range(1, 1024));
    add_precision_flag(serve_cmd, serve.precision, "fp32 (default), or bf16 matrix products with fp32 accumulation");
    serve_cmd->add_option("--preprocess", serve.preprocess, "preprocessing preset for encoded images (default: as vit predict)")
        ->check(CLI::IsMember({"timm", "torchvision", "hf"}));
    serve_cmd->add_option("--heads", serve.num_heads, "number of heads, for files that cannot tell")
        ->check(CLI::Range(int64_t{1}, int64_t{1024}));
    serve_cmd->add_flag("--non-strict", serve.non_strict, "load what matches; report missing and unused tensors");
    serve_cmd->add_option("--api-key-file", serve.api_key_file,
                          "require 'Authorization: Bearer KEY' on every endpoint but health; KEY is the file's first line");
    serve_cmd->add_option("--timeout", serve.timeout_s, "seconds to receive a request, to wait for its batch, and to "
                          "send the answer")->capture_default_str()->check(CLI::Range(0.1, 3600.0));
    serve_cmd->add_option("--max-body-mb", serve.max_body_mb, "largest request body in MiB (413 beyond)")
        ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{4096}));
    serve_cmd->add_option("--max-connections", serve.max_connections, "open connections at once (503 beyond)")
        ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{65536}));
    serve_cmd->add_option("--max-pixels", serve.max_pixels, "largest image in pixels, checked before decoding")
        ->capture_default_str()->check(CLI::Range(int64_t{1}, vit::kMaxImagePixels));

    if (const std::string unknown = vit::tools::unknown_name(app, argc, argv); !unknown.empty()) {
        std::fprintf(stderr, "error: %s\n", unknown.c_str());
        return 2;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        if (info_cmd->parsed()) {
            return vit::tools::run_info(info);
        }
        if (train_cmd->parsed()) {
            return vit::tools::run_train(train);
        }
        if (eval_cmd->parsed()) {
            return vit::tools::run_eval(eval);
        }
        if (predict_cmd->parsed()) {
            return vit::tools::run_predict(predict);
        }
        if (inspect_cmd->parsed()) {
            return vit::tools::run_inspect(inspect);
        }
        if (serve_cmd->parsed()) {
            return vit::tools::run_serve(serve);
        }
        return vit::tools::run_bench(bench);
    } catch (const vit::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {  // file system and library errors not wrapped above
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
