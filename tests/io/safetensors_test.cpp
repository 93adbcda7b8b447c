// safetensors: a round trip, and malformed files that must each be refused with their message.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "vit/safetensors.h"

namespace vit {
namespace {

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "/" + name; }

// A file of an explicit header length, header text and data section.
std::string write_raw(const std::string& name, uint64_t header_len, const std::string& header, size_t data_bytes) {
    const std::string path = temp_path(name);
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(&header_len), 8);
    out << header;
    out << std::string(data_bytes, '\0');
    return path;
}

std::string write_header(const std::string& name, const std::string& header, size_t data_bytes) {
    return write_raw(name, header.size(), header, data_bytes);
}

TEST(Safetensors, RoundTripWithMetadata) {
    const std::string path = temp_path("ok.safetensors");
    std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {-1.5f};
    safetensors_write(path, {{"a", {2, 3}, a.data()}, {"b", {1}, b.data()}}, {{"k", "v"}});
    SafetensorsFile f = SafetensorsFile::open(path);
    EXPECT_EQ(f.tensors().size(), 2u);
    EXPECT_EQ(f.get("a").shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(f.read_f32("a"), a);
    EXPECT_EQ(f.read_f32("b"), b);
    EXPECT_EQ(f.metadata().at("k"), "v");
    EXPECT_EQ(f.find("c"), nullptr);
}

TEST(Safetensors, ReadsHalfAndBFloat16AndIntegers) {
    // F16 1.0 = 0x3c00, -2.0 = 0xc000; BF16 1.5 = 0x3fc0; I64 7.
    const std::string header = R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},"i":{"dtype":"I64","shape":[1],"data_offsets":[6,14]}})";
    const std::string path = temp_path("types.safetensors");
    std::ofstream out(path, std::ios::binary);
    uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header;
    const uint16_t h[2] = {0x3c00, 0xc000}, bf = 0x3fc0;
    const int64_t i = 7;
    out.write(reinterpret_cast<const char*>(h), 4);
    out.write(reinterpret_cast<const char*>(&bf), 2);
    out.write(reinterpret_cast<const char*>(&i), 8);
    out.close();
    SafetensorsFile f = SafetensorsFile::open(path);
    EXPECT_EQ(f.read_f32("h"), (std::vector<float>{1.0f, -2.0f}));
    EXPECT_EQ(f.read_f32("b"), (std::vector<float>{1.5f}));
    EXPECT_EQ(f.read_f32("i"), (std::vector<float>{7.0f}));
}

TEST(Safetensors, RefusesMalformedFiles) {
    const std::string T = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    struct Case {
        const char* name;
        std::string path;
        std::string message;  // after "'<path>'" or as a whole when it starts differently
    };
    std::string p;
    std::vector<std::pair<std::string, std::string>> cases;

    p = temp_path("short.safetensors");
    std::ofstream(p, std::ios::binary) << "abc";
    cases.push_back({p, "'" + p + "' is not a safetensors file: 3 bytes, expected at least 8 for the header length"});

    p = write_raw("truncated.safetensors", 1000, "{}", 0);
    cases.push_back({p, "'" + p + "': header length 1000 exceeds the 2 bytes that follow it (file truncated?)"});

    p = write_raw("huge_header.safetensors", uint64_t{1} << 40, "{}", 0);
    cases.push_back({p, "'" + p + "': header length 1099511627776 exceeds the limit of 100000000 bytes"});

    p = write_header("bad_json.safetensors", R"({"t": {"dtype": "F32",)", 0);
    cases.push_back({p, "'" + p + "': the 22-byte header is not valid JSON"});

    p = write_header("not_object.safetensors", "[1, 2]", 0);
    cases.push_back({p, "'" + p + "': the header must be a JSON object, got array"});

    p = write_header("unknown_dtype.safetensors", R"({"t":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", 2);
    cases.push_back({p, "'" + p + "': tensor 't' has unknown dtype \"F8\"; expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL"});

    p = write_header("negative_shape.safetensors", R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8);
    cases.push_back({p, "'" + p + "': tensor 't' shape must be a list of at most 16 non-negative integers, got [-2]"});

    p = write_header("missing_field.safetensors", R"({"t":{"dtype":"F32","shape":[2]}})", 8);
    cases.push_back({p, "'" + p + "': tensor 't' must be an object with dtype, shape and data_offsets"});

    p = write_header("outside.safetensors", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4);
    cases.push_back({p, "'" + p + "': tensor 't' data_offsets [0, 8] lie outside the 4-byte data section"});

    p = write_header("reversed.safetensors", R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8);
    cases.push_back({p, "'" + p + "': tensor 't' data_offsets must be [begin, end] with 0 <= begin <= end, got [8,0]"});

    p = write_header("size_mismatch.safetensors", R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
    cases.push_back({p, "'" + p + "': tensor 't' of shape [3] and dtype F32 needs 12 bytes, but data_offsets [0, 8] hold 8"});

    p = write_header("overflow.safetensors", R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8);
    cases.push_back({p, "'" + p + "': tensor 't' shape [4294967296,4294967296] overflows a 64-bit byte count"});

    p = write_header("overlap.safetensors", "{" + T + R"(,"u":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
    cases.push_back({p, "'" + p + "': tensors 't' and 'u' overlap (bytes [0, 8) and [4, 12))"});

    p = write_header("hole.safetensors", "{" + T + R"(,"u":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})", 16);
    cases.push_back({p, "'" + p + "': bytes [8, 12) of the data section belong to no tensor"});

    p = write_header("trailing.safetensors", "{" + T + "}", 12);
    cases.push_back({p, "'" + p + "': the data section has 12 bytes but the tensors cover 8"});

    p = write_header("bad_metadata.safetensors", R"({"__metadata__":{"k":1}})", 0);
    cases.push_back({p, "'" + p + "': __metadata__ value 'k' must be a string, got number"});

    p = temp_path("does_not_exist.safetensors");
    cases.push_back({p, "cannot open '" + p + "': No such file or directory"});

    // JSON nested 100000 levels deep (200 kB): refused while parsing, before anything recurses.
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    p = write_header("nested.safetensors", R"({"t":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,4]}})", 4);
    cases.push_back({p, "'" + p + "': header: JSON nested deeper than 64 levels"});

    p = write_header("nested_shape.safetensors", R"({"t":{"dtype":"F32","shape":[[[[1]]]],"data_offsets":[0,4]}})", 4);
    cases.push_back({p, "'" + p + "': tensor 't' shape must be a list of at most 16 non-negative integers, got a list of "
                        "lists or objects"});

    p = write_header("duplicate.safetensors", "{" + T + "," + T + "}", 8);
    cases.push_back({p, "'" + p + "': header: key \"t\" appears twice in one object"});

    p = temp_path("");  // a directory
    cases.push_back({p, "'" + p + "' is a directory, not a regular file"});

    p = temp_path("fifo.safetensors");  // opening it must not wait for a writer
    std::remove(p.c_str());
    ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
    cases.push_back({p, "'" + p + "' is a FIFO, not a regular file"});

    ASSERT_GE(cases.size(), 10u);
    for (const auto& [path, message] : cases) {
        EXPECT_VIT_ERROR(SafetensorsFile::open(path), message);
    }
}

TEST(Safetensors, TruncatedCopyOfAValidFileIsRefused) {
    const std::string path = temp_path("full.safetensors");
    std::vector<float> a(100, 1.0f);
    safetensors_write(path, {{"a", {100}, a.data()}}, {});
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
    EXPECT_VIT_ERROR(SafetensorsFile::open(path),
                     "'" + path + "': tensor 'a' data_offsets [0, 400] lie outside the 390-byte data section");
}

TEST(Safetensors, MissingTensorIsNamed) {
    const std::string path = temp_path("one.safetensors");
    std::vector<float> a = {1};
    safetensors_write(path, {{"a", {1}, a.data()}}, {});
    EXPECT_VIT_ERROR(SafetensorsFile::open(path).get("pos_embed"), "'" + path + "': no tensor named 'pos_embed'");
}

TEST(Safetensors, FailedWriteLeavesTheOldFileIntact) {
    const std::string path = temp_path("keep.safetensors");
    std::vector<float> a = {1, 2};
    safetensors_write(path, {{"a", {2}, a.data()}}, {});
    const auto size = std::filesystem::file_size(path);
    // A negative dimension is refused before anything is written.
    EXPECT_VIT_ERROR(safetensors_write(path, {{"a", {-1}, a.data()}}, {}),
                     "cannot write tensor 'a': negative dimension in shape [-1]");
    EXPECT_EQ(std::filesystem::file_size(path), size);
    EXPECT_EQ(SafetensorsFile::open(path).read_f32("a"), a);
    EXPECT_THROW(safetensors_write("/nonexistent-dir/x.safetensors", {{"a", {2}, a.data()}}, {}), Error);
}

}  // namespace
}  // namespace vit
