// Opening a file from outside for reading: only a regular file is accepted, and opening never
// blocks (a FIFO given as weights would otherwise wait for a writer forever).
#pragma once

#include <cstdint>
#include <string>

namespace vit {

struct RegularFile {
    int fd = -1;        // read-only, close-on-exec; the caller closes it
    int64_t size = 0;   // bytes, when opened
};

// The regular file at `path`, opened. Throws vit::Error naming the path and what it is instead:
// missing, a directory, a FIFO, a device, a socket.
RegularFile open_regular_file(const std::string& path);

}  // namespace vit
