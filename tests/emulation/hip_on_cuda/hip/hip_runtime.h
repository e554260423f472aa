// HIP names for the CUDA runtime calls the HIP examples use. Test-only.
//
// hipcc is not installed on CI machines, so the HIP examples are checked two
// ways through this header: compiled by nvcc against the real CUDA runtime (the
// HIP API mirrors it, so a misspelt call or a wrong argument fails to compile),
// and run through the host emulation in ../cuda_runtime.h. Neither proves the
// code builds with hipcc; the manifests say `unverified: true` until it has.
#pragma once
#include <cuda_runtime.h>

typedef cudaError_t hipError_t;
#define hipSuccess cudaSuccess
#define hipGetErrorString cudaGetErrorString
#define hipMalloc cudaMalloc
#define hipFree cudaFree
#define hipMemcpy cudaMemcpy
#define hipMemset cudaMemset
#define hipMemcpyHostToDevice cudaMemcpyHostToDevice
#define hipMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define hipMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define hipGetLastError cudaGetLastError
#define hipDeviceSynchronize cudaDeviceSynchronize
