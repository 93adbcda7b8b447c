// multipart/form-data: the boundary from the content type, then the parts between its
// delimiters, each a header block and its content.
#include "serve/multipart.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "serve/kserve.h"

namespace vit::serve {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// The value of parameter `name` (lower case) in a header value like `a; name="v"; b=w`.
std::optional<std::string> header_parameter(std::string_view value, std::string_view name) {
    const std::string low = lower(value);
    for (size_t at = low.find(';'); at != std::string::npos; at = low.find(';', at + 1)) {
        size_t p = at + 1;
        while (p < low.size() && low[p] == ' ') p++;
        if (low.compare(p, name.size(), name) != 0 || p + name.size() >= low.size() || low[p + name.size()] != '=') continue;
        std::string_view v = value.substr(p + name.size() + 1);
        if (v.starts_with('"')) {
            const size_t end = v.find('"', 1);
            if (end == std::string_view::npos) return std::nullopt;
            return std::string(v.substr(1, end - 1));
        }
        return std::string(v.substr(0, v.find(';')));
    }
    return std::nullopt;
}

}  // namespace

FormFile first_form_file(std::string_view content_type, std::string_view body) {
    const std::optional<std::string> boundary = header_parameter(content_type, "boundary");
    if (!boundary || boundary->empty() || boundary->size() > 70) {
        refuse(400, "a multipart/form-data body needs a boundary of 1 to 70 characters in its Content-Type");
    }
    const std::string delimiter = "--" + *boundary;
    size_t at = body.find(delimiter);
    std::vector<FormFile> parts;
    while (at != std::string_view::npos) {
        at += delimiter.size();
        if (body.substr(at, 2) == "--") break;  // the closing delimiter
        if (body.substr(at, 2) != "\r\n") refuse(400, "multipart body: a boundary line does not end in CRLF");
        at += 2;
        // the part's header lines, then an empty line (right away when it has none)
        const size_t headers_end = body.substr(at, 2) == "\r\n" ? at : body.find("\r\n\r\n", at);
        if (headers_end == std::string_view::npos) refuse(400, "multipart body: a part's headers do not end");
        const std::string_view headers = body.substr(at, headers_end - at);
        const size_t content_start = headers_end == at ? at + 2 : headers_end + 4;
        const size_t next = body.find("\r\n" + delimiter, content_start);
        if (next == std::string_view::npos) refuse(400, "multipart body: a part is not closed by the boundary");
        FormFile part{.filename = "upload", .content = body.substr(content_start, next - content_start)};
        bool named = false;
        for (size_t line = 0; line < headers.size();) {
            const size_t end = std::min(headers.find("\r\n", line), headers.size());
            const std::string_view h = headers.substr(line, end - line);
            if (lower(h.substr(0, h.find(':'))) == "content-disposition") {
                if (auto f = header_parameter(h, "filename"); f && !f->empty()) {
                    part.filename = *f;
                    named = true;
                }
            }
            line = end + 2;
        }
        if (named) return part;
        parts.push_back(part);
        at = next + 2;
    }
    if (parts.empty()) refuse(400, "the multipart/form-data body holds no part");
    return parts.front();
}

}  // namespace vit::serve
