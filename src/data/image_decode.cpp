// JPEG and PNG decoding and PNG encoding. Both decoders read the header first and refuse images
// above the pixel limit before allocating, so a small file claiming 60000x60000 pixels (a
// decompression bomb) costs nothing.
#include <cstddef>
#include <cstdio>  // before jpeglib.h, which needs size_t and FILE
#include <jpeglib.h>
#include <spng.h>

#include <algorithm>
#include <csetjmp>
#include <filesystem>
#include <memory>

#include "vit/error.h"
#include "vit/image_io.h"

namespace vit {

namespace {

constexpr int64_t kMaxImageFileBytes = int64_t{256} << 20;

// libjpeg reports errors through error_exit, which must not return: we jump back to decode_jpeg.
struct JpegError {
    jpeg_error_mgr mgr;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
    auto* err = reinterpret_cast<JpegError*>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, err->message);
    std::longjmp(err->jump, 1);
}

// A warning (msg_level -1) means corrupt or missing data that libjpeg would paper over with
// grey rows or guessed coefficients: it fails the decode, as Pillow refuses such files.
void jpeg_warning_is_error(j_common_ptr cinfo, int msg_level) {
    if (msg_level < 0) {
        jpeg_error_exit(cinfo);
    }
}

// A progressive JPEG may hold any number of scans, each a pass over the whole image: more than
// real encoders write (libjpeg's progressive script has 10 for colour) is refused, as
// libjpeg-turbo's own tools can (-maxscans).
constexpr int kMaxJpegScans = 64;

void jpeg_scan_limit(j_common_ptr cinfo) {
    auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
    if (d->input_scan_number > kMaxJpegScans) {
        auto* err = reinterpret_cast<JpegError*>(cinfo->err);
        std::snprintf(err->message, sizeof(err->message), "more than %d scans", kMaxJpegScans);
        std::longjmp(err->jump, 1);
    }
}

// Returns an empty message on success; on failure the image is left partially filled.
std::string decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& name, int64_t max_pixels,
                        int64_t min_shorter_side, Image& img) {
    jpeg_decompress_struct cinfo{};
    JpegError err{};
    std::vector<uint8_t> row;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_error_exit;
    err.mgr.emit_message = jpeg_warning_is_error;
    jpeg_progress_mgr progress{};
    progress.progress_monitor = jpeg_scan_limit;
    if (setjmp(err.jump) != 0) {
        jpeg_destroy_decompress(&cinfo);
        return fmt::format("'{}' is not a valid JPEG: {}", name, err.message);
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
    jpeg_read_header(&cinfo, TRUE);
    const int64_t pixels = int64_t{cinfo.image_width} * cinfo.image_height;
    if (pixels > max_pixels) {
        jpeg_destroy_decompress(&cinfo);
        return fmt::format("'{}' is {}x{} = {} pixels, more than the limit of {} (a decompression bomb?)",
                           name, cinfo.image_width, cinfo.image_height, pixels, max_pixels);
    }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return fmt::format("'{}' is a CMYK JPEG; expected greyscale or RGB", name);
    }
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    if (min_shorter_side > 0 && pixels > kExactDecodePixels) {
        const int64_t shorter = std::min<int64_t>(cinfo.image_width, cinfo.image_height);
        unsigned int denom = 1;
        while (denom < 8 && (shorter + 2 * denom - 1) / (2 * denom) >= min_shorter_side) {
            denom *= 2;  // libjpeg's output side is ceil(side / denom)
        }
        cinfo.scale_num = 1;
        cinfo.scale_denom = denom;
    }
    jpeg_start_decompress(&cinfo);
    img.height = cinfo.output_height;
    img.width = cinfo.output_width;
    img.channels = cinfo.output_components;
    img.hwc.assign(static_cast<size_t>(img.height * img.width * img.channels), 0.0f);
    row.resize(static_cast<size_t>(img.width * img.channels));
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rows[1] = {row.data()};
        const int64_t y = cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, rows, 1);
        float* dst = img.at(y, 0);
        for (size_t k = 0; k < row.size(); k++) {
            dst[k] = static_cast<float>(row[k]) * (1.0f / 255.0f);
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return {};
}

using SpngCtx = std::unique_ptr<spng_ctx, void (*)(spng_ctx*)>;

Image decode_png(const std::vector<uint8_t>& bytes, const std::string& name, int64_t max_pixels) {
    SpngCtx ctx(spng_ctx_new(0), &spng_ctx_free);
    if (!ctx) {
        fail("cannot decode '{}': out of memory", name);
    }
    auto check = [&](int rc, const char* what) {
        if (rc != 0) {
            fail("'{}' is not a valid PNG ({}: {})", name, what, spng_strerror(rc));
        }
    };
    spng_set_crc_action(ctx.get(), SPNG_CRC_ERROR, SPNG_CRC_ERROR);
    check(spng_set_chunk_limits(ctx.get(), 16u << 20, 64u << 20), "limits");
    check(spng_set_png_buffer(ctx.get(), bytes.data(), bytes.size()), "buffer");
    spng_ihdr ihdr{};
    check(spng_get_ihdr(ctx.get(), &ihdr), "header");
    const int64_t pixels = int64_t{ihdr.width} * ihdr.height;
    if (pixels > max_pixels) {
        fail("'{}' is {}x{} = {} pixels, more than the limit of {} (a decompression bomb?)", name,
             ihdr.width, ihdr.height, pixels, max_pixels);
    }
    size_t size = 0;
    check(spng_decoded_image_size(ctx.get(), SPNG_FMT_RGBA8, &size), "size");
    std::vector<uint8_t> rgba(size);
    check(spng_decode_image(ctx.get(), rgba.data(), rgba.size(), SPNG_FMT_RGBA8, SPNG_DECODE_TRNS), "pixels");
    const bool grey = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE ||
                      ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
    Image img{ihdr.height, ihdr.width, grey ? 1 : 3, {}};
    img.hwc.resize(static_cast<size_t>(pixels * img.channels));
    for (int64_t p = 0; p < pixels; p++) {
        for (int64_t c = 0; c < img.channels; c++) {
            img.hwc[static_cast<size_t>(p * img.channels + c)] = static_cast<float>(rgba[static_cast<size_t>(p * 4 + c)]) * (1.0f / 255.0f);
        }
    }
    return img;
}

}  // namespace

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name, int64_t max_pixels,
                   int64_t min_shorter_side) {
    if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
        Image img;
        std::string error = decode_jpeg(bytes, name, max_pixels, min_shorter_side, img);
        if (!error.empty()) {
            throw Error(error);
        }
        return img;
    }
    static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (bytes.size() >= 8 && std::equal(kPng, kPng + 8, bytes.begin())) {
        return decode_png(bytes, name, max_pixels);
    }
    fail("'{}' is not a JPEG or PNG image (first bytes: {:02x})", name,
         fmt::join(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(bytes.size(), 8)), " "));
}

Image decode_image_file(const std::string& path, int64_t max_pixels, int64_t min_shorter_side) {
    return decode_image(read_file(path, kMaxImageFileBytes), path, max_pixels, min_shorter_side);
}

void write_png(const std::string& path, const uint8_t* pixels, int64_t height, int64_t width, int64_t channels) {
    if (channels != 1 && channels != 3) {
        fail("PNG output needs 1 or 3 channels, got {}", channels);
    }
    SpngCtx ctx(spng_ctx_new(SPNG_CTX_ENCODER), &spng_ctx_free);
    spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1);
    spng_ihdr ihdr{};
    ihdr.width = static_cast<uint32_t>(width);
    ihdr.height = static_cast<uint32_t>(height);
    ihdr.bit_depth = 8;
    ihdr.color_type = channels == 1 ? SPNG_COLOR_TYPE_GRAYSCALE : SPNG_COLOR_TYPE_TRUECOLOR;
    spng_set_ihdr(ctx.get(), &ihdr);
    const size_t len = static_cast<size_t>(height * width * channels);
    int rc = spng_encode_image(ctx.get(), pixels, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    if (rc != 0) {
        fail("cannot encode '{}' as PNG: {}", path, spng_strerror(rc));
    }
    size_t png_size = 0;
    std::unique_ptr<void, void (*)(void*)> png(spng_get_png_buffer(ctx.get(), &png_size, &rc), &std::free);
    if (!png || rc != 0) {
        fail("cannot encode '{}' as PNG: {}", path, spng_strerror(rc));
    }
    const std::string tmp = path + ".tmp";
    {
        std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(tmp.c_str(), "wb"), &std::fclose);
        if (!f || std::fwrite(png.get(), 1, png_size, f.get()) != png_size || std::fflush(f.get()) != 0) {
            fail("cannot write '{}'", tmp);
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        fail("cannot rename '{}' to '{}': {}", tmp, path, ec.message());
    }
}

}  // namespace vit
