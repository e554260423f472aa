// A sequential host emulation of the few CUDA runtime calls the examples use.
//
// Test-only. It runs every thread of a launch one after another on the CPU, so it
// checks a program's host code, indexing and self-check, not GPU behaviour (no
// races, no memory model, no __syncthreads). tests/test_examples.py rewrites
// `kernel<<<grid, block>>>(args)` into `emulate_launch(grid, block, kernel, args)`.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#define __global__
#define __device__
#define __host__

struct dim3 {
  unsigned int x, y, z;
  dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
static dim3 threadIdx, blockIdx, blockDim, gridDim;

typedef int cudaError_t;
static const cudaError_t cudaSuccess = 0;
static const cudaError_t cudaErrorMemoryAllocation = 2;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost,
  cudaMemcpyHostToDevice,
  cudaMemcpyDeviceToHost,
  cudaMemcpyDeviceToDevice,
  cudaMemcpyDefault
};

inline const char *cudaGetErrorString(cudaError_t err) {
  return err == cudaSuccess ? "no error" : "emulated allocation failure";
}
template <class T>
cudaError_t cudaMalloc(T **ptr, size_t bytes) {
  *ptr = (T *)malloc(bytes ? bytes : 1);
  return *ptr ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFree(void *ptr) {
  free(ptr);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind) {
  memmove(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void *dst, int value, size_t bytes) {
  memset(dst, value, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }

template <class T>
T atomicAdd(T *address, T value) {
  T old = *address;
  *address += value;
  return old;
}

template <class Kernel, class... Args>
void emulate_launch(dim3 grid, dim3 block, Kernel kernel, Args... args) {
  gridDim = grid;
  blockDim = block;
  for (blockIdx.z = 0; blockIdx.z < grid.z; blockIdx.z++)
    for (blockIdx.y = 0; blockIdx.y < grid.y; blockIdx.y++)
      for (blockIdx.x = 0; blockIdx.x < grid.x; blockIdx.x++)
        for (threadIdx.z = 0; threadIdx.z < block.z; threadIdx.z++)
          for (threadIdx.y = 0; threadIdx.y < block.y; threadIdx.y++)
            for (threadIdx.x = 0; threadIdx.x < block.x; threadIdx.x++) kernel(args...);
}
