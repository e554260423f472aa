// hamming-pairs: all-pairs Hamming distance between N DNA sequences of length L.
//
// Sequences over {A, C, G, T} come from a fixed-seed LCG; related sequences are
// made by mutating a few "ancestors", so distances vary. The program computes the
// full N x N distance matrix, then the sum of all distances and the closest pair.
//
// Usage: hamming-pairs [N=8192] [L=1024] [REPEAT=5]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - one thread per pair (i, j) compares the two sequences character by
//    character straight from global memory: sequences are stored one after
//    another, so neighbouring threads read bytes L apart (uncoalesced) and no
//    sequence is shared through shared memory;
//  - one byte per base, although two bits would do;
//  - the whole matrix is computed (both triangles and the diagonal) and copied
//    back through pageable memory on every repeat; the host then scans it.
// Self-check: rows 0, N/3, 2N/3 and N-1 are recomputed on the host.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define CHECK(call)                                                               \
  do {                                                                            \
    cudaError_t err_ = (call);                                                    \
    if (err_ != cudaSuccess) {                                                    \
      fprintf(stderr, "CUDA error: %s at %s:%d\n", cudaGetErrorString(err_),      \
              __FILE__, __LINE__);                                                \
      exit(1);                                                                    \
    }                                                                             \
  } while (0)

static uint32_t lcg_state = 31337u;
static uint32_t lcg_next() {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return lcg_state;
}

__global__ void distances(const char *seqs, int n, int len, int *dist) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  int i = blockIdx.y * blockDim.y + threadIdx.y;
  if (i >= n || j >= n) return;
  int d = 0;
  for (int k = 0; k < len; k++)
    if (seqs[(size_t)i * len + k] != seqs[(size_t)j * len + k]) d++;
  dist[(size_t)i * n + j] = d;
}

int main(int argc, char **argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 8192;
  const int len = argc > 2 ? atoi(argv[2]) : 1024;
  const int repeat = argc > 3 ? atoi(argv[3]) : 5;
  if (n < 2 || len < 1 || repeat < 1) {
    fprintf(stderr, "usage: %s [N>=2] [L>=1] [REPEAT>=1]\n", argv[0]);
    return 2;
  }
  printf("hamming-pairs: N=%d L=%d repeat=%d\n", n, len, repeat);
  const char bases[4] = {'A', 'C', 'G', 'T'};
  const int ancestors = 16;
  char *seqs = (char *)malloc((size_t)n * len);
  int *dist = (int *)malloc((size_t)n * n * sizeof(int));
  if (!seqs || !dist) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (int s = 0; s < ancestors && s < n; s++)
    for (int k = 0; k < len; k++) seqs[(size_t)s * len + k] = bases[(lcg_next() >> 16) & 3];
  for (int s = ancestors; s < n; s++) {  // a mutated copy of an ancestor
    const char *parent = seqs + (size_t)(lcg_next() % ancestors) * len;
    uint32_t rate = 1 + lcg_next() % 64;  // mutation probability rate/256
    for (int k = 0; k < len; k++)
      seqs[(size_t)s * len + k] =
          (lcg_next() >> 24) < rate ? bases[(lcg_next() >> 16) & 3] : parent[k];
  }

  char *d_seqs;
  int *d_dist;
  CHECK(cudaMalloc(&d_seqs, (size_t)n * len));
  CHECK(cudaMalloc(&d_dist, (size_t)n * n * sizeof(int)));
  CHECK(cudaMemcpy(d_seqs, seqs, (size_t)n * len, cudaMemcpyHostToDevice));
  dim3 block(16, 16);
  dim3 grid((n + 15) / 16, (n + 15) / 16);
  unsigned long long total = 0;
  int best = len + 1, best_i = -1, best_j = -1;
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < repeat; r++) {
    distances<<<grid, block>>>(d_seqs, n, len, d_dist);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(dist, d_dist, (size_t)n * n * sizeof(int), cudaMemcpyDeviceToHost));
    total = 0;
    best = len + 1;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) {
        int d = dist[(size_t)i * n + j];
        total += d;
        if (i < j && d < best) best = d, best_i = i, best_j = j;
      }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int bad = 0;
  const int rows[4] = {0, n / 3, 2 * n / 3, n - 1};
  for (int r = 0; r < 4; r++) {
    int i = rows[r];
    for (int j = 0; j < n; j++) {
      int d = 0;
      for (int k = 0; k < len; k++) d += seqs[(size_t)i * len + k] != seqs[(size_t)j * len + k];
      if (dist[(size_t)i * n + j] != d) bad++;
    }
  }
  printf("sum of distances %llu\n", total);
  printf("closest pair %d %d distance %d\n", best_i, best_j, best);
  printf("time: %.3f s\n", seconds);
  printf("%s\n", bad == 0 ? "PASS" : "FAIL");
  if (bad) fprintf(stderr, "%d distances differ from the host's\n", bad);
  CHECK(cudaFree(d_seqs));
  CHECK(cudaFree(d_dist));
  free(seqs);
  free(dist);
  return bad == 0 ? 0 : 1;
}
