// KServe v2 inference requests: every field checked against the model before anything is
// queued, and responses in JSON or with Triton's binary tensor data.
#include "serve/kserve.h"

#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/json_input.h"
#include "core/json_text.h"
#include "vit/error.h"
#include "vit/predict.h"

namespace vit::serve {

using nlohmann::json;

namespace {

constexpr int64_t kMaxShapeValues = int64_t{1} << 40;
constexpr size_t kMaxIdLength = 256;

std::string quoted(const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); }

const char* kind_of(const json& v) {
    switch (v.type()) {
        case json::value_t::object: return "an object";
        case json::value_t::array: return "a list";
        case json::value_t::string: return "a string";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::null: return "null";
        default: return "a number";
    }
}

void only_keys(const json& object, std::initializer_list<const char*> allowed, const std::string& what) {
    for (const auto& item : object.items()) {
        const std::string& key = item.key();
        if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; }) == allowed.end()) {
            std::string list;
            for (const char* a : allowed) {
                if (!list.empty()) list += ", ";
                list += a;
            }
            refuse(400, "{}: unknown key {} (expected {})", what, shown(json(key)), list);
        }
    }
}

const json& object_at(const json& parent, const char* key, const std::string& what) {
    const json& v = parent.at(key);
    if (!v.is_object()) refuse(400, "{}.{} must be an object, got {}", what, key, kind_of(v));
    return v;
}

std::string string_at(const json& parent, const char* key, const std::string& what) {
    if (!parent.contains(key)) refuse(400, "{} lacks \"{}\"", what, key);
    const json& v = parent.at(key);
    if (!v.is_string()) refuse(400, "{}.{} must be a string, got {}", what, key, kind_of(v));
    return v.get<std::string>();
}

bool bool_parameter(const json& parameters, const char* key, const std::string& what) {
    if (!parameters.contains(key)) return false;
    const json& v = parameters.at(key);
    if (!v.is_boolean()) refuse(400, "{} parameter {} must be true or false, got {}", what, key, shown(v));
    return v.get<bool>();
}

int64_t integer_parameter(const json& parameters, const char* key, int64_t lo, int64_t hi, const std::string& what) {
    const json& v = parameters.at(key);
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) ||
        v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
        refuse(400, "{} parameter {} must be an integer in [{}, {}], got {}", what, key, lo, hi, shown(v));
    }
    return v.get<int64_t>();
}

std::vector<int64_t> shape_of(const json& input, const std::string& what) {
    if (!input.contains("shape")) refuse(400, "{} lacks \"shape\"", what);
    const json& s = input.at("shape");
    if (!s.is_array() || s.empty() || s.size() > 8) refuse(400, "{}.shape must be a list of 1 to 8 sizes, got {}", what, shown(s));
    std::vector<int64_t> shape;
    int64_t values = 1;
    for (const json& d : s) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0 || (d.is_number_unsigned() && d.get<uint64_t>() > (uint64_t{1} << 62))) {
            refuse(400, "{}.shape must hold sizes >= 0, got {}", what, shown(s));
        }
        shape.push_back(d.get<int64_t>());
        if (shape.back() > 0 && values > kMaxShapeValues / shape.back()) {
            refuse(400, "{}.shape {} holds more than 2^40 values", what, shown(s));
        }
        values *= shape.back();
    }
    return shape;
}

// The batch size B of an input of `shape`, checked against the server's limit.
int64_t batch_of(const std::vector<int64_t>& shape, int64_t max_images, const std::string& what) {
    const int64_t B = shape[0];
    if (B < 1) refuse(400, "{} holds no images (shape[0] is 0)", what);
    if (B > max_images) refuse(413, "{} holds {} images; this server takes at most {} per request", what, B, max_images);
    return B;
}

// Appends the numbers of a flat or nested list, up to `expected` of them.
void flatten_numbers(const json& data, size_t expected, std::vector<float>& out, const std::string& what) {
    for (const json& v : data) {
        if (v.is_array()) {
            flatten_numbers(v, expected, out, what);
            continue;
        }
        if (!v.is_number()) refuse(400, "{}.data must hold numbers, got {}", what, kind_of(v));
        if (out.size() == expected) refuse(400, "{}.data holds more than the shape's {} values", what, expected);
        out.push_back(v.get<float>());
    }
}

void flatten_strings(const json& data, std::vector<std::string>& out, const std::string& what) {
    for (const json& v : data) {
        if (v.is_array()) {
            flatten_strings(v, out, what);
            continue;
        }
        if (!v.is_string()) refuse(400, "{}.data must hold base64 strings, got {}", what, kind_of(v));
        out.push_back(v.get<std::string>());
    }
}

// The binary tensor data of one input: `size` bytes at `offset` of what follows the JSON header.
std::string_view binary_part(std::string_view binary, size_t& offset, int64_t size, const std::string& what) {
    if (static_cast<uint64_t>(size) > binary.size() - offset) {
        refuse(400, "{} binary_data_size is {} bytes, but {} bytes follow the JSON header{}", what, size,
               binary.size(), offset > 0 ? fmt::format(" (from byte {})", offset) : "");
    }
    const std::string_view part = binary.substr(offset, static_cast<size_t>(size));
    offset += static_cast<size_t>(size);
    return part;
}

void read_pixels(const json& in, std::string_view binary, size_t& offset, const ModelSignature& sig,
                 int64_t max_images, InferRequest& r, const std::string& what) {
    const std::vector<int64_t> shape = shape_of(in, what);
    if (shape.size() != 4 || shape[1] != sig.channels || shape[2] != sig.height || shape[3] != sig.width) {
        refuse(400, "{} must have shape [B, {}, {}, {}], got {}", what, sig.channels, sig.height, sig.width,
               shown(in.at("shape")));
    }
    r.count = batch_of(shape, max_images, what);
    const size_t values = static_cast<size_t>(r.count * sig.channels * sig.height * sig.width);
    if (in.contains("data")) {
        const json& data = in.at("data");
        if (!data.is_array()) refuse(400, "{}.data must be a list of numbers, got {}", what, kind_of(data));
        r.pixels.reserve(values);
        flatten_numbers(data, values, r.pixels, what);
        if (r.pixels.size() != values) {
            refuse(400, "{}.data holds {} values, but shape {} needs {}", what, r.pixels.size(), shown(in.at("shape")), values);
        }
    } else {
        const int64_t size = integer_parameter(in.at("parameters"), "binary_data_size", 0, int64_t{1} << 40, what);
        if (static_cast<size_t>(size) != values * sizeof(float)) {
            refuse(400, "{} binary_data_size is {} bytes, but shape {} needs {} (4 bytes per FP32 value)", what, size,
                   shown(in.at("shape")), values * sizeof(float));
        }
        const std::string_view part = binary_part(binary, offset, size, what);
        r.pixels.resize(values);
        std::memcpy(r.pixels.data(), part.data(), part.size());
    }
    for (float x : r.pixels) {
        if (!std::isfinite(x)) refuse(400, "{} holds a value that is not finite (NaN or infinity)", what);
    }
}

void read_encoded(const json& in, std::string_view binary, size_t& offset, int64_t max_images, InferRequest& r,
                  const std::string& what) {
    const std::vector<int64_t> shape = shape_of(in, what);
    if (shape.size() > 2 || (shape.size() == 2 && shape[1] != 1)) {
        refuse(400, "{} must have shape [B] or [B, 1] (one encoded image each), got {}", what, shown(in.at("shape")));
    }
    r.count = batch_of(shape, max_images, what);
    if (in.contains("data")) {
        const json& data = in.at("data");
        if (!data.is_array()) refuse(400, "{}.data must be a list of base64 strings, got {}", what, kind_of(data));
        std::vector<std::string> texts;
        flatten_strings(data, texts, what);
        if (static_cast<int64_t>(texts.size()) != r.count) {
            refuse(400, "{}.data holds {} strings, but its shape says {}", what, texts.size(), r.count);
        }
        for (size_t i = 0; i < texts.size(); i++) {
            r.encoded.push_back(decode_base64(texts[i], fmt::format("{}.data[{}]", what, i)));
        }
    } else {
        const int64_t size = integer_parameter(in.at("parameters"), "binary_data_size", 0, int64_t{1} << 40, what);
        std::string_view part = binary_part(binary, offset, size, what);
        while (!part.empty()) {
            uint32_t n = 0;
            if (part.size() < 4) refuse(400, "{}: element {} lacks its 4-byte length", what, r.encoded.size() + 1);
            std::memcpy(&n, part.data(), 4);  // little-endian, as the hosts this runs on
            part.remove_prefix(4);
            if (n > part.size()) {
                refuse(400, "{}: element {} says {} bytes, but {} remain in its binary data", what,
                       r.encoded.size() + 1, n, part.size());
            }
            r.encoded.emplace_back(part.begin(), part.begin() + n);
            part.remove_prefix(n);
        }
        if (static_cast<int64_t>(r.encoded.size()) != r.count) {
            refuse(400, "{} binary data holds {} elements, but its shape says {}", what, r.encoded.size(), r.count);
        }
    }
    for (size_t i = 0; i < r.encoded.size(); i++) {
        if (r.encoded[i].empty()) refuse(400, "{}: image {} of {} is empty", what, i + 1, r.count);
    }
}

void read_outputs(const json& j, const ModelSignature& sig, InferRequest& r) {
    if (j.contains("parameters")) r.binary_output = bool_parameter(object_at(j, "parameters", "the request"), "binary_data_output", "the request");
    if (!j.contains("outputs")) return;
    const json& outputs = j.at("outputs");
    if (!outputs.is_array() || outputs.size() > 1) {
        refuse(400, "outputs must be a list naming at most one tensor (\"{}\"), got {}", kLogitsOutput, shown(outputs));
    }
    for (const json& out : outputs) {
        const std::string what = "outputs[0]";
        if (!out.is_object()) refuse(400, "{} must be an object, got {}", what, kind_of(out));
        only_keys(out, {"name", "parameters"}, what);
        const std::string name = string_at(out, "name", what);
        if (name != kLogitsOutput) refuse(400, "{} names output {}; this model has one output, \"{}\"", what, shown(json(name)), kLogitsOutput);
        if (!out.contains("parameters")) continue;
        const json& p = object_at(out, "parameters", what);
        if (p.contains("classification")) {
            r.classification = std::min(integer_parameter(p, "classification", 1, int64_t{1} << 30, what), sig.classes);
        }
        r.binary_output = r.binary_output || bool_parameter(p, "binary_data", what);
    }
}

}  // namespace

std::vector<uint8_t> decode_base64(std::string_view text, const std::string& what) {
    static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (text.size() % 4 != 0) refuse(400, "{} is not base64: its length {} is not a multiple of 4", what, text.size());
    const size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
    std::vector<uint8_t> out;
    out.reserve(text.size() / 4 * 3);
    uint32_t bits = 0;
    for (size_t i = 0; i < text.size() - padding; i++) {
        const size_t v = alphabet.find(text[i]);
        if (v == std::string_view::npos) refuse(400, "{} is not base64: character {} is '{}'", what, i, std::isprint(static_cast<unsigned char>(text[i])) ? text[i] : '?');
        bits = (bits << 6) | static_cast<uint32_t>(v);
        if (i % 4 == 3) {
            out.push_back(static_cast<uint8_t>(bits >> 16));
            out.push_back(static_cast<uint8_t>(bits >> 8));
            out.push_back(static_cast<uint8_t>(bits));
        }
    }
    if (padding == 2) out.push_back(static_cast<uint8_t>(bits >> 4));
    if (padding == 1) {
        out.push_back(static_cast<uint8_t>(bits >> 10));
        out.push_back(static_cast<uint8_t>(bits >> 2));
    }
    return out;
}

InferRequest parse_infer_request(const HttpRequest& request, const ModelSignature& sig, int64_t max_images) {
    std::string_view json_text = request.body, binary;
    if (auto h = request.header("inference-header-content-length")) {
        size_t n = 0;
        const auto [end, ec] = std::from_chars(h->data(), h->data() + h->size(), n);
        if (ec != std::errc() || end != h->data() + h->size()) {
            refuse(400, "Inference-Header-Content-Length must be a byte count, got '{}'", h->substr(0, 40));
        }
        if (n > request.body.size()) {
            refuse(400, "Inference-Header-Content-Length is {}, but the body has {} bytes", n, request.body.size());
        }
        json_text = json_text.substr(0, n);
        binary = std::string_view(request.body).substr(n);
    }
    json j;
    try {
        j = parse_json_input(json_text, "the request");
    } catch (const Error& e) {
        refuse(400, "{}", e.what());
    }
    if (j.is_discarded()) refuse(400, "the request is not JSON");
    if (!j.is_object()) refuse(400, "the request must be a JSON object, got {}", kind_of(j));
    only_keys(j, {"id", "parameters", "inputs", "outputs"}, "the request");
    InferRequest r;
    if (j.contains("id")) {
        r.id = string_at(j, "id", "the request");
        if (r.id.size() > kMaxIdLength) refuse(400, "the request's id has {} characters; the limit is {}", r.id.size(), kMaxIdLength);
    }
    if (!j.contains("inputs") || !j.at("inputs").is_array() || j.at("inputs").size() != 1) {
        refuse(400, "inputs must list exactly one tensor: \"{}\" (FP32 [B, {}, {}, {}]) or \"{}\" (BYTES [B])",
               kPixelsInput, sig.channels, sig.height, sig.width, kBytesInput);
    }
    const json& in = j.at("inputs")[0];
    if (!in.is_object()) refuse(400, "inputs[0] must be an object, got {}", kind_of(in));
    only_keys(in, {"name", "shape", "datatype", "data", "parameters"}, "inputs[0]");
    const std::string name = string_at(in, "name", "inputs[0]");
    const std::string datatype = string_at(in, "datatype", "inputs[0]");
    const std::string what = "input " + shown(json(name));
    const bool has_data = in.contains("data");
    const bool has_binary = in.contains("parameters") && object_at(in, "parameters", what).contains("binary_data_size");
    if (has_data == has_binary) {
        refuse(400, "{} needs either \"data\" or the parameter \"binary_data_size\" (with the "
                    "Inference-Header-Content-Length header), {}", what, has_data ? "not both" : "got neither");
    }
    if (has_binary && !request.header("inference-header-content-length")) {
        refuse(400, "{} gives binary_data_size, but the request has no Inference-Header-Content-Length header", what);
    }
    size_t offset = 0;
    if (name == kPixelsInput) {
        if (datatype != "FP32") refuse(400, "{} must be FP32, got {}", what, shown(json(datatype)));
        r.input = ImageInput::Pixels;
        read_pixels(in, binary, offset, sig, max_images, r, what);
    } else if (name == kBytesInput) {
        if (datatype != "BYTES") refuse(400, "{} must be BYTES, got {}", what, shown(json(datatype)));
        r.input = ImageInput::Encoded;
        read_encoded(in, binary, offset, max_images, r, what);
    } else {
        refuse(400, "unknown input {}; this model takes \"{}\" (FP32 [B, {}, {}, {}]) or \"{}\" (BYTES [B])",
               shown(json(name)), kPixelsInput, sig.channels, sig.height, sig.width, kBytesInput);
    }
    if (offset != binary.size()) {
        refuse(400, "the body has {} bytes after the JSON header, but the inputs' binary_data_size adds up to {}",
               binary.size(), offset);
    }
    read_outputs(j, sig, r);
    return r;
}

HttpResponse infer_response(const InferRequest& r, const std::string& model_name, const std::vector<float>& logits,
                            const std::vector<std::string>& labels) {
    const int64_t K = static_cast<int64_t>(logits.size()) / r.count;
    std::string head = "{\"model_name\":" + quoted(model_name) + ",\"model_version\":\"1\"";
    if (!r.id.empty()) head += ",\"id\":" + quoted(r.id);
    std::string binary;
    std::string data;  // the JSON list of the values
    int64_t columns = K;
    if (r.classification > 0) {
        columns = r.classification;
        head += fmt::format(",\"outputs\":[{{\"name\":\"{}\",\"datatype\":\"BYTES\",\"shape\":[{},{}]", kLogitsOutput, r.count, columns);
        for (int64_t b = 0; b < r.count; b++) {
            const float* row = logits.data() + b * K;
            for (int64_t c : top_classes(row, K, columns).classes) {
                const std::string text = fmt::format("{}:{}:{}", row[c], c, labels[static_cast<size_t>(c)]);
                if (r.binary_output) {
                    const auto n = static_cast<uint32_t>(text.size());
                    binary.append(reinterpret_cast<const char*>(&n), 4);
                    binary += text;
                } else {
                    if (!data.empty()) data += ',';
                    data += quoted(text);
                }
            }
        }
    } else {
        head += fmt::format(",\"outputs\":[{{\"name\":\"{}\",\"datatype\":\"FP32\",\"shape\":[{},{}]", kLogitsOutput, r.count, K);
        if (r.binary_output) {
            binary.assign(reinterpret_cast<const char*>(logits.data()), logits.size() * sizeof(float));
        } else {
            data = fmt::format("{}", fmt::join(logits, ","));
        }
    }
    HttpResponse response;
    if (r.binary_output) {
        head += fmt::format(",\"parameters\":{{\"binary_data_size\":{}}}}}]}}", binary.size());
        response.content_type = "application/octet-stream";
        response.headers.emplace_back("Inference-Header-Content-Length", std::to_string(head.size()));
        response.body = head + binary;
    } else {
        response.body = head + ",\"data\":[" + data + "]}]}";
    }
    return response;
}

std::string model_metadata_json(const std::string& model_name, const ModelSignature& s) {
    return fmt::format("{{\"name\":{},\"versions\":[\"1\"],\"platform\":\"vit\","
                       "\"inputs\":[{{\"name\":\"{}\",\"datatype\":\"FP32\",\"shape\":[-1,{},{},{}]}},"
                       "{{\"name\":\"{}\",\"datatype\":\"BYTES\",\"shape\":[-1]}}],"
                       "\"outputs\":[{{\"name\":\"{}\",\"datatype\":\"FP32\",\"shape\":[-1,{}]}}]}}",
                       quoted(model_name), kPixelsInput, s.channels, s.height, s.width, kBytesInput, kLogitsOutput,
                       s.classes);
}

}  // namespace vit::serve
