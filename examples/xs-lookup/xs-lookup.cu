// xs-lookup: Monte Carlo macroscopic cross-section lookups, the inner loop of
// continuous-energy neutron transport.
//
// NUC nuclides each tabulate 5 cross sections (channels) on their own sorted
// energy grid of GRID points. 12 materials mix some of the nuclides with given
// densities. Each lookup draws an energy in [0, 1) and a material from a hash of
// its index (the same on host and device), binary-searches the grid of every
// nuclide in the material, interpolates its 5 cross sections and adds them up,
// weighted by density. The program prints the mean macroscopic cross section of
// each channel and how often each channel is the largest.
//
// Usage: xs-lookup [LOOKUPS=80000000] [NUC=256] [GRID=8192]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - grid points are an array of structs {energy, xs[5]} in double precision,
//    so the binary search drags whole 48-byte points through the caches;
//  - each nuclide is searched on its own grid (no unionized grid, no hints);
//  - lookups run in batches of 2^20: every batch allocates its output buffer,
//    copies all 5 results per lookup back through pageable memory and frees it;
//  - small 64-thread blocks.
// Self-check: every 997th lookup is recomputed on the host.
#include <chrono>
#include <cmath>
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

#define CHANNELS 5
#define MATERIALS 12
#define BATCH (1 << 20)

struct GridPoint {
  double energy;
  double xs[CHANNELS];
};

__host__ __device__ uint64_t mix64(uint64_t z) {  // splitmix64 finaliser
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

__host__ __device__ void lookup_one(long long id, const GridPoint *grid, int points,
                                    const int *mat_start, const int *mat_nuclide,
                                    const double *mat_density, double *macro) {
  uint64_t h = mix64((uint64_t)id);
  double energy = (h >> 11) * (1.0 / 9007199254740992.0);
  int material = (int)(mix64(h) % MATERIALS);
  for (int c = 0; c < CHANNELS; c++) macro[c] = 0.0;
  for (int k = mat_start[material]; k < mat_start[material + 1]; k++) {
    const GridPoint *g = grid + (size_t)mat_nuclide[k] * points;
    int lo = 0, hi = points - 1;
    while (hi - lo > 1) {
      int mid = (lo + hi) / 2;
      if (g[mid].energy > energy) hi = mid;
      else lo = mid;
    }
    double f = (energy - g[lo].energy) / (g[lo + 1].energy - g[lo].energy);
    for (int c = 0; c < CHANNELS; c++)
      macro[c] += mat_density[k] * (g[lo].xs[c] + f * (g[lo + 1].xs[c] - g[lo].xs[c]));
  }
}

__global__ void lookups(long long first, int count, const GridPoint *grid, int points,
                        const int *mat_start, const int *mat_nuclide, const double *mat_density,
                        double *out) {
  int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= count) return;
  lookup_one(first + t, grid, points, mat_start, mat_nuclide, mat_density,
             out + (size_t)t * CHANNELS);
}

static uint32_t lcg_state = 1701u;
static double lcg_uniform() {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return (lcg_state >> 8) * (1.0 / 16777216.0);
}

int main(int argc, char **argv) {
  const long long total = argc > 1 ? atoll(argv[1]) : 80000000LL;
  const int nuclides = argc > 2 ? atoi(argv[2]) : 256;
  const int points = argc > 3 ? atoi(argv[3]) : 8192;
  if (total < 1 || nuclides < 1 || points < 2) {
    fprintf(stderr, "usage: %s [LOOKUPS>=1] [NUC>=1] [GRID>=2]\n", argv[0]);
    return 2;
  }
  GridPoint *grid = (GridPoint *)malloc((size_t)nuclides * points * sizeof(GridPoint));
  int mat_start[MATERIALS + 1];
  mat_start[0] = 0;
  for (int m = 0; m < MATERIALS; m++) mat_start[m + 1] = mat_start[m] + 1 + (nuclides / 4) / (m + 1);
  const int entries = mat_start[MATERIALS];
  int *mat_nuclide = (int *)malloc(entries * sizeof(int));
  double *mat_density = (double *)malloc(entries * sizeof(double));
  double *out = (double *)malloc((size_t)BATCH * CHANNELS * sizeof(double));
  if (!grid || !mat_nuclide || !mat_density || !out) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (int n = 0; n < nuclides; n++) {  // sorted energies spanning (0, 1)
    GridPoint *g = grid + (size_t)n * points;
    double e = 0.0;
    for (int p = 0; p < points; p++) {
      e += 0.5 + lcg_uniform();
      g[p].energy = e;
      for (int c = 0; c < CHANNELS; c++) g[p].xs[c] = lcg_uniform();
    }
    for (int p = 0; p < points; p++) g[p].energy /= e + 1.0;
  }
  for (int k = 0; k < entries; k++) {
    mat_nuclide[k] = (int)(lcg_uniform() * nuclides);
    mat_density[k] = 0.1 + lcg_uniform();
  }
  printf("xs-lookup: lookups=%lld nuclides=%d grid=%d material entries=%d\n", total, nuclides,
         points, entries);

  GridPoint *d_grid;
  int *d_mat_start, *d_mat_nuclide;
  double *d_mat_density;
  CHECK(cudaMalloc(&d_grid, (size_t)nuclides * points * sizeof(GridPoint)));
  CHECK(cudaMalloc(&d_mat_start, sizeof(mat_start)));
  CHECK(cudaMalloc(&d_mat_nuclide, entries * sizeof(int)));
  CHECK(cudaMalloc(&d_mat_density, entries * sizeof(double)));
  CHECK(cudaMemcpy(d_grid, grid, (size_t)nuclides * points * sizeof(GridPoint),
                   cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d_mat_start, mat_start, sizeof(mat_start), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d_mat_nuclide, mat_nuclide, entries * sizeof(int), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d_mat_density, mat_density, entries * sizeof(double), cudaMemcpyHostToDevice));

  double sums[CHANNELS] = {0};
  long long largest[CHANNELS] = {0};
  int bad = 0;
  auto start = std::chrono::steady_clock::now();
  for (long long first = 0; first < total; first += BATCH) {
    int count = (int)(total - first < BATCH ? total - first : BATCH);
    double *d_out;
    CHECK(cudaMalloc(&d_out, (size_t)count * CHANNELS * sizeof(double)));
    lookups<<<(count + 63) / 64, 64>>>(first, count, d_grid, points, d_mat_start, d_mat_nuclide,
                                       d_mat_density, d_out);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(out, d_out, (size_t)count * CHANNELS * sizeof(double),
                     cudaMemcpyDeviceToHost));
    CHECK(cudaFree(d_out));
    for (int t = 0; t < count; t++) {
      const double *macro = out + (size_t)t * CHANNELS;
      int best = 0;
      for (int c = 0; c < CHANNELS; c++) {
        sums[c] += macro[c];
        if (macro[c] > macro[best]) best = c;
      }
      largest[best]++;
      if ((first + t) % 997 == 0) {
        double expect[CHANNELS];
        lookup_one(first + t, grid, points, mat_start, mat_nuclide, mat_density, expect);
        for (int c = 0; c < CHANNELS; c++)
          if (fabs(macro[c] - expect[c]) > 1e-5 * fabs(expect[c]) + 1e-12) bad++;
      }
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  for (int c = 0; c < CHANNELS; c++)
    printf("channel %d mean %.8e largest in %lld lookups\n", c, sums[c] / total, largest[c]);
  printf("time: %.3f s\n", seconds);
  printf("%s\n", bad == 0 ? "PASS" : "FAIL");
  if (bad) fprintf(stderr, "%d sampled cross sections differ from the host's\n", bad);
  CHECK(cudaFree(d_grid));
  CHECK(cudaFree(d_mat_start));
  CHECK(cudaFree(d_mat_nuclide));
  CHECK(cudaFree(d_mat_density));
  free(grid), free(mat_nuclide), free(mat_density), free(out);
  return bad == 0 ? 0 : 1;
}
