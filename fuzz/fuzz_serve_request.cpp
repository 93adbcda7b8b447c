// vit serve's request bodies: a KServe v2 inference request (JSON, or a JSON header and binary
// tensor data), a multipart/form-data upload and base64. The first byte chooses how the rest is
// read; an HttpError (the 4xx answer) is the expected answer to bad input.
#include <cstdlib>

#include "serve/kserve.h"
#include "serve/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vit::serve;
    if (size < 1) return 0;
    const uint8_t mode = data[0];
    const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        if (mode % 4 == 3) {
            const FormFile f = first_form_file("multipart/form-data; boundary=XyZ", body);
            if (f.content.data() < body.data() || f.content.data() + f.content.size() > body.data() + body.size()) std::abort();
            return 0;
        }
        HttpRequest request;
        request.method = "POST";
        request.target = "/v2/models/m/infer";
        request.body = body;
        if (mode % 4 == 1) {  // a JSON header of (mode / 4) * 8 bytes, then binary data
            request.headers.emplace_back("inference-header-content-length", std::to_string((mode / 4) * 8));
        } else if (mode % 4 == 2) {
            request.headers.emplace_back("inference-header-content-length", body.substr(0, body.find('{')));
        }
        const InferRequest r = parse_infer_request(request, {.channels = 1, .height = 4, .width = 4, .classes = 3}, 8);
        const size_t per_image = r.input == ImageInput::Pixels ? 16 : 1;
        const size_t held = r.input == ImageInput::Pixels ? r.pixels.size() : r.encoded.size();
        if (r.count < 1 || r.count > 8 || held != static_cast<size_t>(r.count) * per_image) std::abort();
        const std::vector<float> logits(static_cast<size_t>(r.count) * 3, 0.5f);
        (void)infer_response(r, "m", logits, {"a", "b", "c"});
    } catch (const HttpError& e) {
        if (e.status() < 400 || e.status() > 499) std::abort();
    }
    return 0;
}
