// Whole-file reads with transparent gzip inflation and an output cap (a small .gz can claim
// gigabytes: the cap refuses such decompression bombs before they exhaust memory).
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/regular_file.h"
#include "vit/data.h"
#include "vit/error.h"

namespace vit {

std::vector<uint8_t> read_file(const std::string& path, int64_t max_bytes) {
    const auto [fd, size] = open_regular_file(path);
    if (size > max_bytes) {
        ::close(fd);
        fail("'{}' is larger than the limit of {} bytes", path, max_bytes);
    }
    std::unique_ptr<FILE, int (*)(FILE*)> f(::fdopen(fd, "rb"), &std::fclose);
    if (!f) {
        const int err = errno;
        ::close(fd);
        fail("cannot open '{}': {}", path, std::strerror(err));
    }
    std::vector<uint8_t> bytes;
    bytes.reserve(static_cast<size_t>(size));  // the file may still grow: the loop checks the limit
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

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path, int64_t max_bytes,
                            const SizeFromHeader& header) {
    bool header_read = header.bytes == 0;
    bool promised = false;  // max_bytes is what the header promises
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
            if (promised) {
                fail("'{}' inflates to more than the {} bytes its header promises", path, max_bytes);
            }
            fail("'{}' inflates to more than the limit of {} bytes", path, max_bytes);
        }
        out.insert(out.end(), chunk, chunk + produced);
        if (!header_read && out.size() >= header.bytes) {  // the header says how much is to come
            header_read = true;
            try {
                const int64_t total = header.total(out.data());
                promised = total < max_bytes;
                max_bytes = std::min(max_bytes, total);
            } catch (...) {
                inflateEnd(&z);
                throw;
            }
        }
    }
    inflateEnd(&z);
    return out;
}

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path, int64_t max_bytes, const SizeFromHeader& header) {
    std::vector<uint8_t> bytes = read_file(path, max_bytes);
    if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
        return gunzip(bytes, path, max_bytes, header);
    }
    return bytes;
}

}  // namespace vit
