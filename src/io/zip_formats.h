// The weight formats that live in a zip archive: PyTorch's torch.save files and NumPy's .npz
// files, read with their names as stored (open_weights renames them). Private to src/io.
#pragma once

#include <memory>

#include "io/zip.h"
#include "vit/weights.h"

namespace vit {

WeightSource read_pytorch_zip(std::shared_ptr<const ZipArchive> zip);
WeightSource read_npz_zip(std::shared_ptr<const ZipArchive> zip);

}  // namespace vit
