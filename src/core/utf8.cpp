// UTF-8 validation by the table of well-formed byte sequences (Unicode 15, table 3-7): no
// overlong forms, no surrogates, nothing above U+10FFFF.
#include "core/utf8.h"

#include <fmt/format.h>

namespace vit {

namespace {

// The length of the well-formed sequence starting at s[i], or 0 when none starts there.
size_t sequence_length(std::string_view s, size_t i) {
    auto byte = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0x100u; };
    auto in = [](unsigned b, unsigned lo, unsigned hi) { return b >= lo && b <= hi; };
    const unsigned b0 = byte(0);
    if (b0 < 0x80) return 1;
    unsigned lo = 0x80, hi = 0xBF;  // the range of the second byte
    size_t n = 0;
    if (in(b0, 0xC2, 0xDF)) n = 2;
    else if (b0 == 0xE0) { n = 3; lo = 0xA0; }
    else if (in(b0, 0xE1, 0xEC) || in(b0, 0xEE, 0xEF)) n = 3;
    else if (b0 == 0xED) { n = 3; hi = 0x9F; }
    else if (b0 == 0xF0) { n = 4; lo = 0x90; }
    else if (in(b0, 0xF1, 0xF3)) n = 4;
    else if (b0 == 0xF4) { n = 4; hi = 0x8F; }
    else return 0;
    if (!in(byte(1), lo, hi)) return 0;
    for (size_t k = 2; k < n; k++) {
        if (!in(byte(k), 0x80, 0xBF)) return 0;
    }
    return n;
}

}  // namespace

bool is_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const size_t n = sequence_length(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string utf8_escaped(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        const size_t n = sequence_length(s, i);
        if (n == 0) {
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(s[i]));
            i++;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

}  // namespace vit
