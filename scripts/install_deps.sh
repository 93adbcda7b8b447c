#!/usr/bin/env bash
# Installs every Debian 12 package vit needs to build, test and benchmark. Idempotent.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libdnnl-dev            # oneDNN: fp32 and bf16 matrix products
  libopenblas0-openmp    # BLAS for the PyTorch peer in benchmarks (else Debian falls back to the reference BLAS)
  libfmt-dev             # message formatting
  nlohmann-json3-dev     # safetensors headers, configs
  libcli11-dev           # command-line parsing
  zlib1g-dev             # gzip-compressed IDX files
  libjpeg62-turbo-dev    # JPEG decoding (libjpeg-turbo)
  libjpeg-turbo-progs    # jpegtran: the tests make a JPEG of 100 scans with it
  libspng-dev            # PNG decoding and the training plot
  libcairo2-dev fonts-dejavu-core   # pictures with antialiased lines and real text (samples.png)
  libgtest-dev           # tests
  libopenmpi-dev openmpi-bin   # training across processes (mpirun -np N vit train) and its tests
  libboost1.81-dev       # Boost.Beast and Asio: the HTTP server of vit serve (bounded header, body and time limits)
  hey                    # HTTP load generator: vit serve's load test and benchmark
  curl                   # vit serve's test posts a multipart form as a user would
  clang-14 libclang-rt-14-dev libomp-14-dev   # the sanitizer build and its libFuzzer targets (fuzz/)
  dataset-fashion-mnist  # the real data of the default recipe and the training tests
  python3-torch python3-numpy python3-torchvision python3-pil   # the PyTorch oracle for parity tests and benchmarks
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
