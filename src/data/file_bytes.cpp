// Whole-file reads with transparent gzip inflation and an output cap (a small .gz can claim
// gigabytes: the cap refuses such decompression bombs before they exhaust memory).
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "vit/data.h"
#include "vit/error.h"

namespace vit {

std::vector<uint8_t> read_file(const std::string& path, int64_t max_bytes) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) {
        fail("cannot open '{}': {}", path, std::strerror(errno));
    }
    std::vector<uint8_t> bytes;
    if (std::fseek(f.get(), 0, SEEK_END) == 0) {
        const long size = std::ftell(f.get());
        if (size > max_bytes) {
            fail("'{}' is larger than the limit of {} bytes", path, max_bytes);
        }
        bytes.reserve(size > 0 ? static_cast<size_t>(size) : 0);
        std::rewind(f.get());
    }
    uint8_t chunk[1 << 16];
    for (;;) {
        size_t n = std::fread(chunk, 1, sizeof chunk, f.get());
        if (n == 0) {
            break;
        }
        if (static_cast<int64_t>(bytes.size() + n) > max_bytes) {
            fail("'{}' is larger than the limit of {} bytes", path, max_bytes);
        }
        bytes.insert(bytes.end(), chunk, chunk + n);
    }
    if (std::ferror(f.get())) {
        fail("cannot read '{}': {}", path, std::strerror(errno));
    }
    return bytes;
}

namespace {

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path, int64_t max_bytes) {
    z_stream z{};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        fail("cannot inflate '{}': zlib initialisation failed", path);
    }
    std::vector<uint8_t> out;
    z.next_in = const_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    uint8_t chunk[1 << 16];
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        z.next_out = chunk;
        z.avail_out = sizeof chunk;
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&z);
            fail("'{}' is not valid gzip data ({})", path,
                 rc == Z_BUF_ERROR ? "truncated" : (z.msg != nullptr ? z.msg : "inflate error"));
        }
        size_t produced = sizeof chunk - z.avail_out;
        if (static_cast<int64_t>(out.size() + produced) > max_bytes) {
            inflateEnd(&z);
            fail("'{}' inflates to more than the limit of {} bytes", path, max_bytes);
        }
        out.insert(out.end(), chunk, chunk + produced);
    }
    inflateEnd(&z);
    return out;
}

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path, int64_t max_bytes) {
    std::vector<uint8_t> bytes = read_file(path, max_bytes);
    if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
        return gunzip(bytes, path, max_bytes);
    }
    return bytes;
}

}  // namespace vit
