"""Sample programs of the LLM layer's tests (our own, a few lines of CUDA)."""

SOURCE = """#include <cstdio>
#include <cuda_runtime.h>

__global__ void scale(float *x, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= a;
}

int main() {
  const int n = 1 << 20;
  float *x;
  cudaMalloc(&x, n * sizeof(float));
  scale<<<(n + 255) / 256, 256>>>(x, 2.0f, n);
  cudaDeviceSynchronize();
  printf("PASS\\n");
  return 0;
}
"""

BETTER = SOURCE.replace("256>>>", "512>>>")
