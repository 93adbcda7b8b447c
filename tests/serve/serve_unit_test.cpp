// vit serve's parts without the network: base64, multipart bodies, KServe request parsing, the
// metrics text, and the batcher (an image's logits are the same in any batch; deadlines; the
// queue bound).
#include <gtest/gtest.h>

#include <future>

#include "serve/batcher.h"
#include "serve/kserve.h"
#include "serve/metrics.h"
#include "serve/multipart.h"

namespace vit::serve {
namespace {

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(Base64, DecodesWithAndWithoutPadding) {
    EXPECT_EQ(decode_base64("aGVsbG8=", "x"), bytes("hello"));
    EXPECT_EQ(decode_base64("aGk=", "x"), bytes("hi"));
    EXPECT_EQ(decode_base64("aGk/", "x"), (std::vector<uint8_t>{0x68, 0x69, 0x3f}));
    EXPECT_EQ(decode_base64("", "x"), bytes(""));
}

TEST(Base64, RefusesWhatIsNotBase64) {
    for (const char* bad : {"aGk", "a=Gk", "aG!k", "===="}) {
        try {
            decode_base64(bad, "data[0]");
            ADD_FAILURE() << bad;
        } catch (const HttpError& e) {
            EXPECT_EQ(e.status(), 400);
            EXPECT_NE(std::string(e.what()).find("data[0] is not base64"), std::string::npos) << e.what();
        }
    }
}

TEST(Multipart, TakesTheFirstFilePart) {
    const std::string body =
        "preamble\r\n--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
        "--B\r\ncontent-disposition: form-data; name=\"image\"; filename=\"cat.png\"\r\n\r\n\x89PNG\r\n\r\n--B--\r\n";
    const FormFile f = first_form_file("multipart/form-data; boundary=\"B\"", body);
    EXPECT_EQ(f.filename, "cat.png");
    EXPECT_EQ(f.content, "\x89PNG\r\n");
    const FormFile only = first_form_file("multipart/form-data; boundary=B", "--B\r\n\r\nraw\r\n--B--");
    EXPECT_EQ(only.filename, "upload");
    EXPECT_EQ(only.content, "raw");
}

TEST(Multipart, RefusesBrokenBodies) {
    for (const auto& [type, body] : std::vector<std::pair<std::string, std::string>>{
             {"multipart/form-data", "--B\r\n\r\nx\r\n--B--"},
             {"multipart/form-data; boundary=B", "--B\r\n\r\nnever closed"},
             {"multipart/form-data; boundary=B", "--B\r\nno blank line"},
             {"multipart/form-data; boundary=B", "no delimiter at all"}}) {
        EXPECT_THROW(first_form_file(type, body), HttpError) << body;
    }
}

HttpRequest post(std::string body) {
    HttpRequest r;
    r.method = "POST";
    r.target = "/v2/models/m/infer";
    r.body = std::move(body);
    return r;
}

std::string error_of(const HttpRequest& r, int status) {
    try {
        parse_infer_request(r, {.channels = 1, .height = 2, .width = 2, .classes = 3}, 4);
    } catch (const HttpError& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "accepted: " << r.body;
    return "";
}

TEST(InferRequest, ReadsJsonAndBinaryTensors) {
    const InferRequest a = parse_infer_request(
        post(R"({"id":"q","inputs":[{"name":"images","datatype":"FP32","shape":[1,1,2,2],"data":[[1,2],[3,4]]}],)"
             R"("outputs":[{"name":"logits","parameters":{"classification":9}}]})"),
        {.channels = 1, .height = 2, .width = 2, .classes = 3}, 4);
    EXPECT_EQ(a.id, "q");
    EXPECT_EQ(a.pixels, (std::vector<float>{1, 2, 3, 4}));
    EXPECT_EQ(a.classification, 3);  // at most the classes
    const std::string header =
        R"({"inputs":[{"name":"image_bytes","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":13}}]})";
    HttpRequest r = post(header + std::string("\x03\0\0\0abc\x02\0\0\0xy", 13));
    r.headers.emplace_back("inference-header-content-length", std::to_string(header.size()));
    const InferRequest b = parse_infer_request(r, {.channels = 1, .height = 2, .width = 2, .classes = 3}, 4);
    ASSERT_EQ(b.encoded.size(), 2u);
    EXPECT_EQ(b.encoded[0], bytes("abc"));
    EXPECT_EQ(b.encoded[1], bytes("xy"));
}

TEST(InferRequest, NamesWhatIsWrong) {
    EXPECT_EQ(error_of(post("[1,2"), 400), "the request is not JSON");
    EXPECT_EQ(error_of(post(R"({"inputs":[]})"), 400).substr(0, 34), "inputs must list exactly one tenso");
    EXPECT_EQ(error_of(post(R"({"inputs":[{"name":"images","datatype":"FP32","shape":[5,1,2,2],"data":[]}]})"), 413),
              "input \"images\" holds 5 images; this server takes at most 4 per request");
    EXPECT_EQ(error_of(post(R"({"inputs":[{"name":"images","datatype":"FP32","shape":[1,1,2,2],"data":[1,2,3,"x"]}]})"), 400),
              "input \"images\".data must hold numbers, got a string");
    EXPECT_EQ(error_of(post(R"({"inputs":[{"name":"image_bytes","datatype":"BYTES","shape":[2],"data":["YQ=="]}]})"), 400),
              "input \"image_bytes\".data holds 1 strings, but its shape says 2");
    const std::string header =
        R"({"inputs":[{"name":"image_bytes","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":8}}]})";
    HttpRequest r = post(header + std::string("\x09\0\0\0abcd", 8));
    r.headers.emplace_back("inference-header-content-length", std::to_string(header.size()));
    EXPECT_EQ(error_of(r, 400), "input \"image_bytes\": element 1 says 9 bytes, but 4 remain in its binary data");
}

TEST(Metrics, HistogramsAreCumulative) {
    Metrics m;
    m.observe_batch("a", 4, 0.003);
    m.observe_batch("a", 2, 0.2);
    m.count_request("a", 200);
    const std::string text = m.prometheus_text();
    EXPECT_NE(text.find("vit_compute_seconds_bucket{model=\"a\",le=\"0.0025\"} 0\n"), std::string::npos) << text;
    EXPECT_NE(text.find("vit_compute_seconds_bucket{model=\"a\",le=\"0.005\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("vit_compute_seconds_bucket{model=\"a\",le=\"0.25\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("vit_compute_seconds_count{model=\"a\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("vit_images_total{model=\"a\"} 6\n"), std::string::npos) << text;
    EXPECT_NE(text.find("vit_requests_total{model=\"a\",code=\"200\"} 1\n"), std::string::npos) << text;
}

// A tiny model fed preprocessed pixels: what the batcher computes for a job is what the model
// computes for that job's images alone.
struct BatcherTest : ::testing::Test {
    ViTConfig config{.image_height = 8, .image_width = 8, .patch_size = 4, .channels = 1, .embed_dim = 16, .depth = 1,
                     .num_heads = 2, .mlp_dim = 32, .num_classes = 3};
    ViT model{config};
    BatcherTest() { model.init_weights(1); }

    std::vector<float> image(int seed) {
        std::vector<float> x(64);
        for (size_t i = 0; i < x.size(); i++) x[i] = static_cast<float>((static_cast<int>(i) * 7 + seed * 13) % 17) / 8.0f - 1.0f;
        return x;
    }
    // image(first), image(first + 1), ... one after another: the pixels of a job of `count` images
    std::vector<float> images(int first, int count) {
        std::vector<float> all;
        for (int s = first; s < first + count; s++) {
            const std::vector<float> x = image(s);
            all.insert(all.end(), x.begin(), x.end());
        }
        return all;
    }
    InferenceJob job(std::vector<float> pixels, int64_t count, std::promise<JobResult>& done, double seconds = 30) {
        InferenceJob j;
        j.input = ImageInput::Pixels;
        j.pixels = std::move(pixels);
        j.count = count;
        j.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
        j.done = [&done](JobResult r) { done.set_value(std::move(r)); };
        return j;
    }
};

TEST_F(BatcherTest, LogitsDoNotDependOnTheBatch) {
    std::vector<std::vector<float>> alone;
    for (int s = 0; s < 5; s++) {
        const float* z = model.forward(image(s).data(), 1, {});
        alone.emplace_back(z, z + 3);
    }
    Metrics metrics;
    std::promise<JobResult> first, second;
    {
        // max_batch 4 and a long delay: the job of 2 waits until the job of 3 fills the batch
        // with its first two images; its third waits alone for the delay, a batch of its own
        Batcher batcher({{.name = "m", .model = model, .pipeline = Pipeline({}, 1, 8, 8)}},
                        {.max_batch = 4, .max_delay_ms = 200, .queue_images = 8}, metrics);
        ASSERT_EQ(batcher.submit(job(images(0, 2), 2, first)), Batcher::Admission::Queued);
        ASSERT_EQ(batcher.submit(job(images(2, 3), 3, second)), Batcher::Admission::Queued);
        // 1 image (or all 5, before the first batch is taken) still waits: 8 more do not fit
        std::promise<JobResult> unused;
        EXPECT_EQ(batcher.submit(job(images(0, 8), 8, unused)), Batcher::Admission::QueueFull);
    }
    const JobResult a = first.get_future().get(), b = second.get_future().get();
    ASSERT_EQ(a.outcome, JobOutcome::Done);
    ASSERT_EQ(b.outcome, JobOutcome::Done);
    for (int s = 0; s < 5; s++) {
        const float* got = s < 2 ? a.logits.data() + s * 3 : b.logits.data() + (s - 2) * 3;
        for (int k = 0; k < 3; k++) EXPECT_NEAR(got[k], alone[static_cast<size_t>(s)][static_cast<size_t>(k)], 1e-5) << s;
    }
    EXPECT_NE(metrics.prometheus_text().find("vit_batches_total{model=\"m\"} 2\n"), std::string::npos)
        << metrics.prometheus_text();
}

TEST_F(BatcherTest, DropsWhatIsPastItsDeadline) {
    Metrics metrics;
    std::promise<JobResult> late;
    // the batch would start after 300 ms; the deadline is at 50 ms
    Batcher batcher({{.name = "m", .model = model, .pipeline = Pipeline({}, 1, 8, 8)}},
                    {.max_batch = 4, .max_delay_ms = 300, .queue_images = 8}, metrics);
    ASSERT_EQ(batcher.submit(job(image(0), 1, late, 0.05)), Batcher::Admission::Queued);
    const JobResult r = late.get_future().get();
    EXPECT_EQ(r.outcome, JobOutcome::TimedOut);
    EXPECT_NE(r.error.find("past its deadline"), std::string::npos) << r.error;
    EXPECT_EQ(metrics.prometheus_text().find("vit_batches_total{model=\"m\"}"), std::string::npos);
}

}  // namespace
}  // namespace vit::serve
