#!/bin/sh
# What `deno task bench` needs beyond the engine (Debian/Ubuntu, as root): lavapipe for WebGPU on
# the CPU, and the PyTorch-CPU peer with OpenBLAS. Debian's python3-torch runs its products
# through whatever libblas.so.3 the alternatives system points at; with only the reference BLAS
# it reaches ~6 GFLOP/s at 1024³ on 2 cores, with libopenblas0-pthread ~160–185, so every ratio
# against it would flatter ours. The peer prints the BLAS it loaded and its 1024³ rate.
set -eu
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y mesa-vulkan-drivers python3-torch \
  libopenblas0-pthread
update-alternatives --display libblas.so.3-x86_64-linux-gnu | head -2
/usr/bin/python3 -c "import torch; print('torch', torch.__version__)"
