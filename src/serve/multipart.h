// multipart/form-data bodies (RFC 7578), as curl -F and browsers send files: the first file part.
#pragma once

#include <string>
#include <string_view>

namespace vit::serve {

struct FormFile {
    std::string filename;      // from Content-Disposition; "upload" when the part names none
    std::string_view content;  // a view into the body
};

// The first part with a filename, else the first part. Throws HttpError 400 for a content type
// without a boundary, a body that does not follow it, or no part at all.
FormFile first_form_file(std::string_view content_type, std::string_view body);

}  // namespace vit::serve
