// Opening a file from outside for reading: only a regular file is accepted, and opening never
// blocks (a FIFO given as weights would otherwise wait for a writer forever).
#pragma once

#include <string>

namespace vit {

// A read-only file descriptor (close-on-exec) of the regular file at `path`. Throws vit::Error
// naming the path and what it is instead: missing, a directory, a FIFO, a device, a socket.
int open_regular_file(const std::string& path);

}  // namespace vit
