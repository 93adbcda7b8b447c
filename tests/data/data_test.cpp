// Dataset readers on files written here: valid files read back, and every kind of corruption
// (wrong magic, wrong counts, truncation, bad labels, decompression bombs, unknown formats)
// gives its message.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "test_util.h"
#include "vit/data.h"
#include "vit/image_io.h"
#include "vit/transforms.h"

namespace vit {
namespace {

namespace fs = std::filesystem;

class TempDir {
  public:
    TempDir() {
        char pattern[] = "/tmp/vit_data_test_XXXXXX";
        path_ = mkdtemp(pattern);
    }
    ~TempDir() { fs::remove_all(path_); }
    std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }

  private:
    std::string path_;
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
}

void put32(std::vector<uint8_t>& b, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

std::vector<uint8_t> idx_images(uint32_t n, uint32_t rows, uint32_t cols) {
    std::vector<uint8_t> b;
    put32(b, 0x803);
    put32(b, n);
    put32(b, rows);
    put32(b, cols);
    for (uint32_t i = 0; i < n * rows * cols; i++) b.push_back(static_cast<uint8_t>(i * 7));
    return b;
}

std::vector<uint8_t> idx_labels(std::vector<uint8_t> labels) {
    std::vector<uint8_t> b;
    put32(b, 0x801);
    put32(b, static_cast<uint32_t>(labels.size()));
    b.insert(b.end(), labels.begin(), labels.end());
    return b;
}

const std::vector<std::string> kTen = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

TEST(Idx, ReadsRawAndGzip) {
    TempDir dir;
    write_bytes(dir.file("i"), idx_images(3, 2, 5));
    write_gzip(dir.file("l.gz"), idx_labels({4, 0, 9}));
    DatasetPtr d = read_idx(dir.file("i"), dir.file("l.gz"), kTen);
    ASSERT_EQ(d->size(), 3);
    EXPECT_EQ(d->label(2), 9);
    Image img = d->load(1);
    EXPECT_EQ(img.height, 2);
    EXPECT_EQ(img.width, 5);
    EXPECT_EQ(img.channels, 1);
    EXPECT_FLOAT_EQ(img.hwc[0], static_cast<float>(static_cast<uint8_t>(10 * 7)) / 255.0f);
}

TEST(Idx, CorruptFilesAreRefused) {
    TempDir dir;
    const std::string images = dir.file("images"), labels = dir.file("labels");
    write_bytes(labels, idx_labels({1, 2, 3}));
    auto images_bytes = idx_images(3, 4, 4);
    auto bad_magic = images_bytes;
    bad_magic[3] = 0x01;
    write_bytes(images, bad_magic);
    EXPECT_VIT_ERROR_HAS(read_idx(images, labels, kTen), "has IDX magic 0x00000801, expected 0x00000803");
    auto truncated = images_bytes;
    truncated.resize(truncated.size() - 5);
    write_bytes(images, truncated);
    EXPECT_VIT_ERROR_HAS(read_idx(images, labels, kTen), "has 43 bytes of data after its header, expected 48 for shape [3, 4, 4] (truncated)");
    write_bytes(images, {0, 0, 8});
    EXPECT_VIT_ERROR_HAS(read_idx(images, labels, kTen), "is not an IDX file: 3 bytes, shorter than the 16-byte header");
    write_bytes(images, idx_images(2, 4, 4));
    EXPECT_VIT_ERROR_HAS(read_idx(images, labels, kTen), "has 2 images but");
    write_bytes(images, images_bytes);
    write_bytes(labels, idx_labels({1, 12, 3}));
    EXPECT_VIT_ERROR_HAS(read_idx(images, labels, kTen), "label 12 of sample 1 is outside [0, 10)");
    std::vector<uint8_t> huge;
    put32(huge, 0x803);
    put32(huge, 0xFFFFFFFF);
    put32(huge, 0xFFFFFFFF);
    put32(huge, 28);
    write_bytes(images, huge);
    EXPECT_VIT_ERROR_HAS(read_idx(images, labels, kTen), "claims more than the limit of 4294967296 bytes of data");
    write_gzip(dir.file("g.gz"), images_bytes);
    std::ifstream in(dir.file("g.gz"), std::ios::binary);
    std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), {});
    gz.resize(gz.size() / 2);
    write_bytes(images, gz);
    EXPECT_VIT_ERROR_HAS(read_idx(images, labels, kTen), "is not valid gzip data (truncated)");
    EXPECT_VIT_ERROR_HAS(read_idx(dir.file("absent"), labels, kTen), "cannot open '" + dir.file("absent") + "'");
}

TEST(Idx, GzipOutputIsCapped) {
    TempDir dir;
    write_gzip(dir.file("zeros.gz"), std::vector<uint8_t>(1 << 20, 0));
    EXPECT_VIT_ERROR_HAS(read_file_bytes(dir.file("zeros.gz"), 4096), "inflates to more than the limit of 4096 bytes");
    // A header promising 3 images of 4x4 followed by a megabyte of zeros: refused after the
    // promised 64 bytes, not after inflating the megabyte.
    std::vector<uint8_t> bomb = idx_images(3, 4, 4);
    bomb.resize(1 << 20, 0);
    write_gzip(dir.file("images.gz"), bomb);
    write_bytes(dir.file("labels"), idx_labels({1, 2, 3}));
    EXPECT_VIT_ERROR_HAS(read_idx(dir.file("images.gz"), dir.file("labels"), kTen),
                         "images.gz' inflates to more than the 64 bytes its header promises");
}

std::vector<uint8_t> cifar_records(int label_bytes, std::vector<uint8_t> labels) {
    std::vector<uint8_t> b;
    for (uint8_t l : labels) {
        if (label_bytes == 2) b.push_back(0);
        b.push_back(l);
        for (int p = 0; p < 3072; p++) b.push_back(static_cast<uint8_t>(p / 1024 * 100));  // R=0, G=100, B=200
    }
    return b;
}

TEST(Cifar, ReadsRecordsAndRefusesBadOnes) {
    TempDir dir;
    write_bytes(dir.file("b1.bin"), cifar_records(1, {3, 7}));
    write_bytes(dir.file("b2.bin"), cifar_records(1, {9}));
    DatasetPtr d = read_cifar({dir.file("b1.bin"), dir.file("b2.bin")}, 1, kTen);
    ASSERT_EQ(d->size(), 3);
    EXPECT_EQ(d->label(1), 7);
    Image img = d->load(2);
    EXPECT_EQ(img.channels, 3);
    EXPECT_FLOAT_EQ(img.at(5, 6)[1], 100.0f / 255.0f);
    EXPECT_FLOAT_EQ(img.at(5, 6)[2], 200.0f / 255.0f);

    auto cut = cifar_records(1, {1, 2});
    cut.pop_back();
    write_bytes(dir.file("cut.bin"), cut);
    EXPECT_VIT_ERROR_HAS(read_cifar({dir.file("cut.bin")}, 1, kTen),
                     "has 6145 bytes, expected a positive multiple of the 3073-byte CIFAR-10 record (truncated or not a CIFAR batch)");
    write_bytes(dir.file("label.bin"), cifar_records(1, {1, 10}));
    EXPECT_VIT_ERROR_HAS(read_cifar({dir.file("label.bin")}, 1, kTen), "label 10 of record 1 is outside [0, 10)");
    write_bytes(dir.file("c100.bin"), cifar_records(2, {99}));
    std::vector<std::string> hundred(100, "x");
    EXPECT_EQ(read_cifar({dir.file("c100.bin")}, 2, hundred)->label(0), 99);
}

std::vector<uint8_t> png_bytes(int64_t h, int64_t w, int64_t c, uint8_t value, const TempDir& dir) {
    std::vector<uint8_t> px(static_cast<size_t>(h * w * c), value);
    write_png(dir.file("tmp.png"), px.data(), h, w, c);
    std::ifstream in(dir.file("tmp.png"), std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), {});
}

TEST(Images, PngRoundTripAndHostileFiles) {
    TempDir dir;
    std::vector<uint8_t> png = png_bytes(5, 7, 3, 51, dir);
    Image img = decode_image(png, "ok.png", 1000);
    EXPECT_EQ(img.height, 5);
    EXPECT_EQ(img.width, 7);
    EXPECT_EQ(img.channels, 3);
    EXPECT_FLOAT_EQ(img.hwc[10], 0.2f);

    // A header claiming 100000 x 100000 pixels, with a valid CRC: refused before decoding.
    std::vector<uint8_t> bomb = png;
    const uint32_t side = 100000;
    for (int k = 0; k < 4; k++) {
        bomb[16 + k] = static_cast<uint8_t>(side >> (24 - 8 * k));
        bomb[20 + k] = static_cast<uint8_t>(side >> (24 - 8 * k));
    }
    const uint32_t crc = static_cast<uint32_t>(crc32(0, bomb.data() + 12, 17));
    for (int k = 0; k < 4; k++) bomb[29 + k] = static_cast<uint8_t>(crc >> (24 - 8 * k));
    EXPECT_VIT_ERROR_HAS(decode_image(bomb, "bomb.png", 89'478'485),
                     "'bomb.png' is 100000x100000 = 10000000000 pixels, more than the limit of 89478485");
    EXPECT_VIT_ERROR_HAS(decode_image(png, "small-limit.png", 34), "is 7x5 = 35 pixels, more than the limit of 34");
    std::vector<uint8_t> cut(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() - 20));
    EXPECT_VIT_ERROR_HAS(decode_image(cut, "cut.png", 1000), "'cut.png' is not a valid PNG");
    std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0};
    EXPECT_VIT_ERROR_HAS(decode_image(gif, "x.gif", 1000), "'x.gif' is not a JPEG or PNG image (first bytes: 47 49 46 38 39 61 01 00)");
}

std::string fixture_path(const std::string& name) {
    const char* dir = std::getenv("VIT_FIXTURE_DIR");
    return std::string(dir != nullptr ? dir : "fixtures") + "/" + name;
}

std::vector<uint8_t> fixture_bytes(const std::string& name) {
    std::ifstream in(fixture_path(name), std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), {});
}

TEST(Images, JpegBombAndCorruptJpeg) {
    const std::vector<uint8_t> jpeg = fixture_bytes("rgb.jpg");
    ASSERT_GT(jpeg.size(), 100u);
    EXPECT_EQ(decode_image(jpeg, "ok.jpg", 1200).width, 40);
    // Patch the frame header (SOF0: FF C0, length, precision, height, width) to 60000 x 60000.
    std::vector<uint8_t> bomb = jpeg;
    for (size_t i = 2; i + 9 < bomb.size(); i++) {
        if (bomb[i] == 0xFF && bomb[i + 1] == 0xC0) {
            bomb[i + 5] = bomb[i + 7] = 0xEA;
            bomb[i + 6] = bomb[i + 8] = 0x60;
            break;
        }
    }
    EXPECT_VIT_ERROR_HAS(decode_image(bomb, "bomb.jpg", 89'478'485),
                     "'bomb.jpg' is 60000x60000 = 3600000000 pixels, more than the limit of 89478485");
    std::vector<uint8_t> cut(jpeg.begin(), jpeg.begin() + 40);
    EXPECT_VIT_ERROR_HAS(decode_image(cut, "cut.jpg", 1200), "'cut.jpg' is not a valid JPEG");
    // Cut in the middle of the pixel data: libjpeg would pad the missing rows with grey.
    for (size_t keep : {jpeg.size() / 2, jpeg.size() - 2}) {
        std::vector<uint8_t> truncated(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(keep));
        EXPECT_VIT_ERROR_HAS(decode_image(truncated, "truncated.jpg", 1200), "'truncated.jpg' is not a valid JPEG: ");
    }
    // Corrupt entropy-coded data (a marker in the middle of a scan).
    std::vector<uint8_t> corrupt = jpeg;
    corrupt[corrupt.size() * 3 / 4] = 0xFF;
    corrupt[corrupt.size() * 3 / 4 + 1] = 0xD0;
    EXPECT_VIT_ERROR_HAS(decode_image(corrupt, "corrupt.jpg", 1200), "'corrupt.jpg' is not a valid JPEG: ");
}

// A JPEG above kExactDecodePixels decodes at 1/2, 1/4 or 1/8 scale when a resize to a smaller
// size follows, and the resized result stays close to that of the full decode.
TEST(Images, HugeJpegDecodesSmallerBeforeAResize) {
    const std::string path = fixture_path("huge.jpg");
    const Image shrunk = decode_image_file(path, kMaxImagePixels, 224);
    EXPECT_EQ(shrunk.width, 513);  // ceil(4100 / 8) >= 224
    EXPECT_EQ(shrunk.height, 513);
    EXPECT_EQ(decode_image_file(path, kMaxImagePixels, 1500).width, 2050);  // 1025 would be < 1500
    const Image full = decode_image_file(path, kMaxImagePixels);
    EXPECT_EQ(full.width, 4100);
    const Image a = resize_shorter_side(full, 224, Interpolation::Bilinear);
    const Image b = resize_shorter_side(shrunk, 224, Interpolation::Bilinear);
    ASSERT_EQ(a.hwc.size(), b.hwc.size());
    double sum = 0.0, worst = 0.0;
    for (size_t i = 0; i < a.hwc.size(); i++) {
        const double d = std::fabs(static_cast<double>(a.hwc[i]) - b.hwc[i]);
        sum += d;
        worst = std::max(worst, d);
    }
    // Measured: mean 0.00088, largest 0.0054 (under 1.4 of 255 levels).
    EXPECT_LT(sum / static_cast<double>(a.hwc.size()), 1.0 / 255.0);
    EXPECT_LT(worst, 4.0 / 255.0);
}

// A progressive JPEG whose last scan repeats: each repeat is a pass over the whole image, so
// the decode time has no bound unless the scans are counted.
TEST(Images, JpegScanLimit) {
    const std::vector<uint8_t> jpeg = fixture_bytes("progressive.jpg");
    ASSERT_GT(jpeg.size(), 100u);
    EXPECT_EQ(decode_image(jpeg, "progressive.jpg", 1000).width, 24);
    size_t last_scan = 0;
    for (size_t i = 0; i + 1 < jpeg.size(); i++) {
        if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA) last_scan = i;
    }
    ASSERT_GT(last_scan, 0u);
    const std::vector<uint8_t> scan(jpeg.begin() + static_cast<std::ptrdiff_t>(last_scan), jpeg.end() - 2);
    std::vector<uint8_t> repeated(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(last_scan));
    for (int r = 0; r < 200; r++) repeated.insert(repeated.end(), scan.begin(), scan.end());
    repeated.insert(repeated.end(), {0xFF, 0xD9});
    EXPECT_VIT_ERROR_HAS(decode_image(repeated, "scans.jpg", 1000), "'scans.jpg' is not a valid JPEG: ");
    // A legal scan sequence, too long: 100 scans of one coefficient band each.
    const std::vector<uint8_t> many_scans = fixture_bytes("many_scans.jpg");
    ASSERT_GT(many_scans.size(), 100u);
    EXPECT_VIT_ERROR(decode_image(many_scans, "many.jpg", 1000), "'many.jpg' is not a valid JPEG: more than 64 scans");
}

TEST(Folders, ClassFoldersAndLabelledFileNames) {
    TempDir dir;
    for (const char* split : {"train", "test"}) {
        for (const char* cls : {"cat", "dog"}) {
            for (int i = 0; i < 3; i++) write_bytes(dir.file(fmt::format("classes/{}/{}/{}.png", split, cls, i)), png_bytes(6, 4, 1, 9, dir));
            write_bytes(dir.file(fmt::format("names/{}/{}.{}.png", split, cls, 7)), png_bytes(4, 4, 3, 9, dir));
        }
    }
    write_bytes(dir.file("classes/train/cat/notes.txt"), {'h', 'i'});
    DatasetPtr d = open_dataset({.kind = "folder", .path = dir.file("classes")}, Split::Train);
    EXPECT_EQ(d->size(), 6);
    EXPECT_EQ(d->class_names(), (std::vector<std::string>{"cat", "dog"}));
    EXPECT_EQ(d->label(4), 1);
    EXPECT_EQ(d->load(0).height, 6);
    DatasetPtr names = open_dataset({.kind = "filenames", .path = dir.file("names")}, Split::Test);
    EXPECT_EQ(names->size(), 2);
    EXPECT_EQ(names->class_names(), (std::vector<std::string>{"cat", "dog"}));

    write_bytes(dir.file("classes/test/bird/0.png"), png_bytes(6, 4, 1, 9, dir));
    EXPECT_VIT_ERROR_HAS(open_dataset({.kind = "folder", .path = dir.file("classes")}, Split::Test),
                     "is a class folder that the training split does not have (classes: cat, dog)");
    write_bytes(dir.file("classes/train/dog/broken.png"), {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0});
    DatasetPtr broken = open_dataset({.kind = "folder", .path = dir.file("classes")}, Split::Train);
    EXPECT_VIT_ERROR_HAS(broken->load(6), "broken.png' is not a valid PNG");
    EXPECT_VIT_ERROR_HAS(open_dataset({.kind = "folder", .path = dir.file("none")}, Split::Train), "does not exist");
    // Names that JSON cannot hold are refused before training, with their bytes escaped.
    write_bytes(dir.file("classes/train/d\xe9j\xe0/0.png"), png_bytes(6, 4, 1, 9, dir));
    EXPECT_VIT_ERROR_HAS(open_dataset({.kind = "folder", .path = dir.file("classes")}, Split::Train),
                         "classes/train/d\\xe9j\\xe0': the name is not valid UTF-8");
    fs::remove_all(dir.file("classes/train/d\xe9j\xe0"));
    write_bytes(dir.file("classes/train/dog/caf\xe9.png"), png_bytes(6, 4, 1, 9, dir));
    EXPECT_VIT_ERROR_HAS(open_dataset({.kind = "folder", .path = dir.file("classes")}, Split::Train),
                         "dog/caf\\xe9.png': the name is not valid UTF-8");
    fs::remove(dir.file("classes/train/dog/caf\xe9.png"));
    write_bytes(dir.file("classes/train/caf\xc3\xa9/0.png"), png_bytes(6, 4, 1, 9, dir));  // UTF-8: fine
    EXPECT_EQ(open_dataset({.kind = "folder", .path = dir.file("classes")}, Split::Train)->num_classes(), 3);
    fs::create_directories(dir.file("classes/train/empty"));
    EXPECT_VIT_ERROR_HAS(open_dataset({.kind = "folder", .path = dir.file("classes")}, Split::Train),
                         "classes/train/empty' has no .jpg, .jpeg or .png files (every class folder needs images)");
    EXPECT_VIT_ERROR_HAS(open_dataset({.kind = "svhn", .path = dir.file("classes")}, Split::Train),
                     "unknown dataset kind 'svhn' (expected one of: fashion-mnist, mnist, cifar10, cifar100, folder, filenames)");
}

TEST(Split, StratifiedAndSeeded) {
    TempDir dir;
    std::vector<uint8_t> labels;
    for (int i = 0; i < 100; i++) labels.push_back(static_cast<uint8_t>(i < 80 ? 0 : 1));
    write_bytes(dir.file("i"), idx_images(100, 1, 1));
    write_bytes(dir.file("l"), idx_labels(labels));
    DatasetPtr d = read_idx(dir.file("i"), dir.file("l"), {"a", "b"});
    SplitIndices s = stratified_split(*d, 0.25, 1);
    ASSERT_EQ(s.second.size(), 25u);
    int64_t second_b = std::count_if(s.second.begin(), s.second.end(), [&](int64_t i) { return d->label(i) == 1; });
    EXPECT_EQ(second_b, 5);  // 25% of each class
    EXPECT_EQ(stratified_split(*d, 0.25, 1).second, s.second);
    EXPECT_NE(stratified_split(*d, 0.25, 2).second, s.second);
    EXPECT_VIT_ERROR_HAS(stratified_split(*d, 1.0, 1), "validation fraction must be in [0, 1), got 1");
}

}  // namespace
}  // namespace vit
