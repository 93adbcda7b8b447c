// The zip reader and the pickle interpreter on hand-made hostile bytes: each corruption is
// refused with its message, nothing is read outside the file.
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

#include "io/pickle.h"
#include "test_util.h"
#include "io/zip.h"

namespace vit {
namespace {

void put16(std::string& s, uint32_t v) { s += {static_cast<char>(v & 0xff), static_cast<char>(v >> 8 & 0xff)}; }
void put32(std::string& s, uint32_t v) {
    put16(s, v & 0xffff);
    put16(s, v >> 16);
}

struct RawEntry {
    std::string name, data;
    uint16_t method = 0, flags = 0;
    uint32_t size = 0;      // 0: data.size()
    uint32_t compressed = 0;  // 0: size
    int32_t crc_delta = 0;  // added to the true CRC
    uint16_t extra_claim = 0;  // extra-field length claimed in the central directory
};

// A zip archive of stored entries whose header fields can be falsified.
std::string make_zip(const std::vector<RawEntry>& entries) {
    std::string out, dir;
    for (const RawEntry& e : entries) {
        const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(e.data.data()),
                                                         static_cast<uInt>(e.data.size())) + e.crc_delta);
        const uint32_t size = e.size ? e.size : static_cast<uint32_t>(e.data.size());
        const uint32_t compressed = e.compressed ? e.compressed : size;
        const uint32_t offset = static_cast<uint32_t>(out.size());
        put32(out, 0x04034b50);
        put16(out, 20); put16(out, e.flags); put16(out, e.method); put32(out, 0);
        put32(out, crc); put32(out, compressed); put32(out, size);
        put16(out, static_cast<uint32_t>(e.name.size())); put16(out, 0);
        out += e.name + e.data;
        put32(dir, 0x02014b50);
        put16(dir, 20); put16(dir, 20); put16(dir, e.flags); put16(dir, e.method); put32(dir, 0);
        put32(dir, crc); put32(dir, compressed); put32(dir, size);
        put16(dir, static_cast<uint32_t>(e.name.size())); put16(dir, e.extra_claim); put16(dir, 0);
        put16(dir, 0); put16(dir, 0); put32(dir, 0); put32(dir, offset);
        dir += e.name;
    }
    const uint32_t dir_offset = static_cast<uint32_t>(out.size());
    out += dir;
    put32(out, 0x06054b50);
    put16(out, 0); put16(out, 0);
    put16(out, static_cast<uint32_t>(entries.size())); put16(out, static_cast<uint32_t>(entries.size()));
    put32(out, static_cast<uint32_t>(dir.size())); put32(out, dir_offset); put16(out, 0);
    return out;
}

std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = ::testing::TempDir() + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

TEST(Zip, ReadsStoredEntries) {
    const std::string path = write("ok.zip", make_zip({{"a/x.bin", "hello"}, {"a/y.bin", ""}}));
    ZipArchive zip = ZipArchive::open(path);
    ASSERT_EQ(zip.entries().size(), 2u);
    const std::vector<uint8_t> x = zip.read(*zip.find("a/x.bin"));
    EXPECT_EQ(std::string(x.begin(), x.end()), "hello");
    EXPECT_EQ(zip.stored_bytes(*zip.find("a/y.bin")).size(), 0u);
}

TEST(Zip, RefusesCorruptArchives) {
    auto path = [](const std::string& name, const std::vector<RawEntry>& e) { return write(name, make_zip(e)); };
    std::string p = path("crc.zip", {{.name = "x", .data = "hello", .crc_delta = 1}});
    EXPECT_VIT_ERROR(ZipArchive::open(p).read(ZipArchive::open(p).entries()[0]),
                     "'" + p + "': entry 'x' fails its CRC check (corrupt)");
    p = path("past_end.zip", {{.name = "x", .data = "hello", .size = 1u << 30}});
    EXPECT_VIT_ERROR_HAS(ZipArchive::open(p), "': entry 'x' claims 1073741824 bytes at byte 31, past the end of the file");
    p = path("encrypted.zip", {{.name = "x", .data = "hello", .flags = 1}});
    EXPECT_VIT_ERROR(ZipArchive::open(p), "'" + p + "': entry 'x' is encrypted");
    p = path("method.zip", {{.name = "x", .data = "hello", .method = 12}});
    EXPECT_VIT_ERROR(ZipArchive::open(p), "'" + p + "': entry 'x' uses compression method 12; only stored (0) "
                                          "and deflated (8) are supported");
    p = path("absolute.zip", {{.name = "/etc/passwd", .data = ""}});
    EXPECT_VIT_ERROR(ZipArchive::open(p), "'" + p + "': zip entry name '/etc/passwd' is not allowed (empty, "
                                          "absolute, or containing '..')");
    p = path("bomb.zip", {{.name = "x", .data = "tiny", .method = 8, .size = 4000000, .compressed = 4}});
    EXPECT_VIT_ERROR(ZipArchive::open(p).read(ZipArchive::open(p).entries()[0]),
                     "'" + p + "': entry 'x' claims 4000000 bytes from 4 compressed bytes, beyond what "
                     "deflate can produce");
    p = path("extra.zip", {{.name = "x", .data = "hello", .extra_claim = 60000}});
    EXPECT_VIT_ERROR(ZipArchive::open(p), "'" + p + "': entry 'x' has an extra field that runs past the central "
                                          "directory");
    std::string cut = make_zip({{.name = "x", .data = "hello"}});
    p = write("cut.zip", cut.substr(0, cut.size() - 30));
    EXPECT_VIT_ERROR(ZipArchive::open(p), "'" + p + "' is not a zip archive (no end-of-central-directory "
                                          "record; truncated?)");
    p = write("empty.zip", "");
    EXPECT_VIT_ERROR(ZipArchive::open(p), "'" + p + "' is not a zip archive (no end-of-central-directory "
                                          "record; truncated?)");
}

// A program from a string literal, zero bytes included.
template <size_t N>
pickle::Result run_pickle(const char (&program)[N]) {
    return pickle::run(std::span(reinterpret_cast<const uint8_t*>(program), N - 1), "p");
}

TEST(Pickle, BuildsPlainValues) {
    // {'a': [1, -2, 3.5], 'b': (True, None)} at protocol 2
    pickle::Result r = run_pickle("\x80\x02}q\x00(X\x01\x00\x00\x00" "a]q\x01(K\x01J\xfe\xff\xff\xffG\x40\x0c\x00\x00"
                                  "\x00\x00\x00\x00" "eX\x01\x00\x00\x00" "b\x88N\x86u.");
    ASSERT_EQ(r.root->kind, pickle::Kind::Dict);
    ASSERT_EQ(r.root->entries.size(), 2u);
    const pickle::Value* list = r.root->entries[0].second;
    ASSERT_EQ(list->items.size(), 3u);
    EXPECT_EQ(list->items[1]->i, -2);
    EXPECT_EQ(list->items[2]->f, 3.5);
    EXPECT_EQ(r.root->entries[1].second->kind, pickle::Kind::Tuple);
}

TEST(Pickle, RefusesWhatAStateDictDoesNotNeed) {
    EXPECT_VIT_ERROR(run_pickle("cos\nsystem\n."), "'p': the pickle names the global 'os.system', which is not "
                     "allowed (a state dict of tensors needs only OrderedDict, tensor rebuilding and storage types); "
                     "refusing to load it");
    EXPECT_VIT_ERROR(run_pickle("\x80\x02}"), "'p': malformed pickle at byte 3: the program ends without STOP "
                     "(truncated?)");
    EXPECT_VIT_ERROR(run_pickle("h\x05."), "'p': malformed pickle at byte 0: memo index 5 was never stored");
    EXPECT_VIT_ERROR(run_pickle("i"), "'p': the pickle uses opcode 0x69 at byte 0, which a state dict does not "
                     "need; refusing to interpret it");
    EXPECT_VIT_ERROR(run_pickle("a."), "'p': malformed pickle at byte 0: pop from an empty stack");
    EXPECT_VIT_ERROR(run_pickle("ccollections\nOrderedDict\n)R)R."),
                     "'p': malformed pickle at byte 28: REDUCE needs a global and a tuple");
    EXPECT_VIT_ERROR(run_pickle("X\xff\xff\xff\x7f"), "'p': malformed pickle at byte 0: 2147483647 bytes "
                     "requested, 0 left");
    // A list holding itself is fine (the arena owns every value) and is returned.
    EXPECT_EQ(run_pickle("]q\x00h\x00" "a.").root->items.size(), 1u);
}

}  // namespace
}  // namespace vit
