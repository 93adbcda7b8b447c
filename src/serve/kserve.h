// The KServe v2 (Open Inference Protocol) inference request and response of one model, with
// Triton's binary tensor extension and the classification extension.
//
// A model takes one input, either of
//   "images"       FP32  [B, C, H, W]  preprocessed pixels (JSON "data", flat or nested, or binary)
//   "image_bytes"  BYTES [B]           encoded JPEG or PNG files (JSON "data": base64 strings;
//                                      binary: each element a 4-byte little-endian length, then
//                                      the bytes)
// and answers "logits" FP32 [B, K]; with "classification": k, BYTES [B, k] strings
// "logit:index:label", most probable first (Triton's format). Binary output when the request's
// "binary_data_output" parameter or the output's "binary_data" is true.
//
// Every field is checked against the model: the message names the field, what was expected and
// what was found, and the status is 400 (413 for more images than the server takes at once).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "serve/batcher.h"
#include "serve/http_server.h"

namespace vit::serve {

// A request refused with this status and message (for the {"error": ...} body).
class HttpError : public std::runtime_error {
  public:
    HttpError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
    int status() const { return status_; }

  private:
    int status_;
};
template <typename... Args>
[[noreturn]] void refuse(int status, fmt::format_string<Args...> format, Args&&... args) {
    throw HttpError(status, fmt::format(format, std::forward<Args>(args)...));
}

inline constexpr const char* kPixelsInput = "images";
inline constexpr const char* kBytesInput = "image_bytes";
inline constexpr const char* kLogitsOutput = "logits";

struct ModelSignature {
    int64_t channels = 3, height = 224, width = 224;
    int64_t classes = 1000;
};

struct InferRequest {
    std::string id;  // echoed in the response when given
    ImageInput input = ImageInput::Encoded;
    std::vector<float> pixels;                   // Pixels: [count, C, H, W]
    std::vector<std::vector<uint8_t>> encoded;   // Encoded: one file per image
    int64_t count = 0;
    int64_t classification = 0;  // > 0: the top this many classes as strings instead of logits
    bool binary_output = false;
};

// Parses POST /v2/models/{name}/infer; throws HttpError.
InferRequest parse_infer_request(const HttpRequest& request, const ModelSignature& signature, int64_t max_images);

// The response to `request` given its logits [count, K].
HttpResponse infer_response(const InferRequest& request, const std::string& model_name,
                            const std::vector<float>& logits, const std::vector<std::string>& labels);

// GET /v2/models/{name}: the model's inputs and outputs.
std::string model_metadata_json(const std::string& model_name, const ModelSignature& signature);

// Strict base64 (RFC 4648, padding required); throws HttpError 400 naming `what`.
std::vector<uint8_t> decode_base64(std::string_view text, const std::string& what);

}  // namespace vit::serve
