// apsp-floyd: all-pairs shortest paths in a directed graph with V vertices,
// by Floyd-Warshall: for k in 0..V-1, d[i][j] = min(d[i][j], d[i][k] + d[k][j]).
//
// Each edge i -> j (i != j) exists with probability 1/16 and has a weight 1..1000
// (fixed-seed LCG); missing edges are "infinite" (INF). The program prints the
// sum of all finite distances, the number of unreachable pairs and d[0][V-1].
//
// Usage: apsp-floyd [V=6144]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - one kernel launch per intermediate vertex k, each followed by
//    cudaDeviceSynchronize();
//  - threadIdx.x walks down a column (i), so neighbouring threads touch rows V
//    ints apart (uncoalesced loads and stores);
//  - d[i][k] and d[k][j] are re-read from global memory by every thread: no
//    blocked (tiled) algorithm, no shared memory.
// Self-check: Dijkstra from four sources on the host must give the same rows.
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

#define INF (1 << 29)  // INF + INF still fits in an int

static uint32_t lcg_state = 1234567u;
static uint32_t lcg_next() {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return lcg_state;
}

__global__ void relax(int *d, int v, int k) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int j = blockIdx.y * blockDim.y + threadIdx.y;
  if (i >= v || j >= v) return;
  int through_k = d[(size_t)i * v + k] + d[(size_t)k * v + j];
  if (through_k < d[(size_t)i * v + j]) d[(size_t)i * v + j] = through_k;
}

// Dense O(V^2) Dijkstra from one source over the original weights.
static void dijkstra(const int *w, int v, int source, int *dist, char *done) {
  for (int j = 0; j < v; j++) dist[j] = INF, done[j] = 0;
  dist[source] = 0;
  for (int round = 0; round < v; round++) {
    int u = -1;
    for (int j = 0; j < v; j++)
      if (!done[j] && (u < 0 || dist[j] < dist[u])) u = j;
    if (dist[u] >= INF) break;
    done[u] = 1;
    for (int j = 0; j < v; j++) {
      int weight = w[(size_t)u * v + j];
      if (weight < INF && dist[u] + weight < dist[j]) dist[j] = dist[u] + weight;
    }
  }
}

int main(int argc, char **argv) {
  const int v = argc > 1 ? atoi(argv[1]) : 6144;
  if (v < 2) {
    fprintf(stderr, "usage: %s [V>=2]\n", argv[0]);
    return 2;
  }
  const size_t cells = (size_t)v * v;
  printf("apsp-floyd: V=%d\n", v);
  int *w = (int *)malloc(cells * sizeof(int));
  int *d = (int *)malloc(cells * sizeof(int));
  int *ref = (int *)malloc(v * sizeof(int));
  char *done = (char *)malloc(v);
  if (!w || !d || !ref || !done) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (int i = 0; i < v; i++)
    for (int j = 0; j < v; j++) {
      uint32_t r = lcg_next();
      w[(size_t)i * v + j] = i == j ? 0 : ((r >> 28) == 0 ? 1 + (int)((r >> 8) % 1000u) : INF);
    }

  int *d_d;
  CHECK(cudaMalloc(&d_d, cells * sizeof(int)));
  CHECK(cudaMemcpy(d_d, w, cells * sizeof(int), cudaMemcpyHostToDevice));
  dim3 block(16, 16);
  dim3 grid((v + 15) / 16, (v + 15) / 16);
  auto start = std::chrono::steady_clock::now();
  for (int k = 0; k < v; k++) {
    relax<<<grid, block>>>(d_d, v, k);
    CHECK(cudaGetLastError());
    CHECK(cudaDeviceSynchronize());
  }
  CHECK(cudaMemcpy(d, d_d, cells * sizeof(int), cudaMemcpyDeviceToHost));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int bad = 0;
  const int sources[4] = {0, v / 3, 2 * v / 3, v - 1};
  for (int s = 0; s < 4; s++) {
    dijkstra(w, v, sources[s], ref, done);
    for (int j = 0; j < v; j++) bad += d[(size_t)sources[s] * v + j] != ref[j];
  }
  unsigned long long total = 0, unreachable = 0;
  for (size_t c = 0; c < cells; c++) {
    if (d[c] >= INF) unreachable++;
    else total += d[c];
  }
  printf("sum of distances %llu unreachable pairs %llu\n", total, unreachable);
  printf("distance 0 to %d: %d\n", v - 1, d[v - 1]);
  printf("time: %.3f s\n", seconds);
  printf("%s\n", bad == 0 ? "PASS" : "FAIL");
  if (bad) fprintf(stderr, "%d distances differ from Dijkstra's\n", bad);
  CHECK(cudaFree(d_d));
  free(w), free(d), free(ref), free(done);
  return bad == 0 ? 0 : 1;
}
