// nbody: gravitational N-body simulation, all pairs, leapfrog (kick-drift-kick).
//
// N bodies of equal mass 1/N start at pseudo-random positions in the unit ball
// with small random velocities (fixed-seed LCG); G = 1, softening EPS2 = 1e-4,
// time step DT = 1e-3. Each step: v += a*dt/2; x += v*dt; a = accel(x); v += a*dt/2.
// The program prints the kinetic energy and the centre-of-mass spread after the
// last step.
//
// Usage: nbody [N=65536] [STEPS=250]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - the GPU only computes accelerations: the host integrates positions and
//    velocities, so positions go up and accelerations come back through pageable
//    memory on every step;
//  - each thread reads every other body straight from global memory (no
//    shared-memory tiles) and uses powf(r2, 1.5f) and a division instead of rsqrtf;
//  - small 64-thread blocks.
// Self-check: the accelerations at the final positions are recomputed on the
// host in double precision for 256 sampled bodies.
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

#define EPS2 1e-4f
#define DT 1e-3f

struct Body {
  float x, y, z, m;
};

static uint32_t lcg_state = 4242u;
static float lcg_symmetric() {  // in [-1, 1)
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return (lcg_state >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

__global__ void accelerations(const Body *bodies, float *ax, float *ay, float *az, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float sx = 0.0f, sy = 0.0f, sz = 0.0f;
  for (int j = 0; j < n; j++) {
    float dx = bodies[j].x - bodies[i].x;
    float dy = bodies[j].y - bodies[i].y;
    float dz = bodies[j].z - bodies[i].z;
    float r2 = dx * dx + dy * dy + dz * dz + EPS2;
    float s = bodies[j].m / powf(r2, 1.5f);
    sx += dx * s;
    sy += dy * s;
    sz += dz * s;
  }
  ax[i] = sx;
  ay[i] = sy;
  az[i] = sz;
}

int main(int argc, char **argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 65536;
  const int steps = argc > 2 ? atoi(argv[2]) : 250;
  if (n < 2 || steps < 1) {
    fprintf(stderr, "usage: %s [N>=2] [STEPS>=1]\n", argv[0]);
    return 2;
  }
  printf("nbody: N=%d steps=%d\n", n, steps);
  Body *bodies = (Body *)malloc(n * sizeof(Body));
  float *vx = (float *)malloc(n * sizeof(float)), *vy = (float *)malloc(n * sizeof(float)),
        *vz = (float *)malloc(n * sizeof(float));
  float *ax = (float *)malloc(n * sizeof(float)), *ay = (float *)malloc(n * sizeof(float)),
        *az = (float *)malloc(n * sizeof(float));
  if (!bodies || !vx || !vy || !vz || !ax || !ay || !az) {
    fprintf(stderr, "out of host memory\n");
    return 1;
  }
  for (int i = 0; i < n; i++) {
    float x, y, z;
    do {
      x = lcg_symmetric(), y = lcg_symmetric(), z = lcg_symmetric();
    } while (x * x + y * y + z * z > 1.0f);
    bodies[i] = {x, y, z, 1.0f / n};
    vx[i] = 0.1f * lcg_symmetric(), vy[i] = 0.1f * lcg_symmetric(), vz[i] = 0.1f * lcg_symmetric();
  }

  Body *d_bodies;
  float *d_ax, *d_ay, *d_az;
  CHECK(cudaMalloc(&d_bodies, n * sizeof(Body)));
  CHECK(cudaMalloc(&d_ax, n * sizeof(float)));
  CHECK(cudaMalloc(&d_ay, n * sizeof(float)));
  CHECK(cudaMalloc(&d_az, n * sizeof(float)));
  const int threads = 64, blocks = (n + threads - 1) / threads;
  auto compute_accelerations = [&]() {
    CHECK(cudaMemcpy(d_bodies, bodies, n * sizeof(Body), cudaMemcpyHostToDevice));
    accelerations<<<blocks, threads>>>(d_bodies, d_ax, d_ay, d_az, n);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(ax, d_ax, n * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(ay, d_ay, n * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(az, d_az, n * sizeof(float), cudaMemcpyDeviceToHost));
  };

  auto start = std::chrono::steady_clock::now();
  compute_accelerations();
  for (int step = 0; step < steps; step++) {
    for (int i = 0; i < n; i++) {
      vx[i] += 0.5f * DT * ax[i], vy[i] += 0.5f * DT * ay[i], vz[i] += 0.5f * DT * az[i];
      bodies[i].x += DT * vx[i], bodies[i].y += DT * vy[i], bodies[i].z += DT * vz[i];
    }
    compute_accelerations();
    for (int i = 0; i < n; i++)
      vx[i] += 0.5f * DT * ax[i], vy[i] += 0.5f * DT * ay[i], vz[i] += 0.5f * DT * az[i];
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int bad = 0;
  for (int s = 0; s < 256; s++) {
    int i = (int)(((long long)s * n) / 256);
    double sx = 0, sy = 0, sz = 0, scale = 0;  // scale: sum of the terms' magnitudes
    for (int j = 0; j < n; j++) {
      double dx = (double)bodies[j].x - bodies[i].x, dy = (double)bodies[j].y - bodies[i].y,
             dz = (double)bodies[j].z - bodies[i].z;
      double r2 = dx * dx + dy * dy + dz * dz + EPS2;
      double f = bodies[j].m / (r2 * sqrt(r2));
      sx += dx * f, sy += dy * f, sz += dz * f;
      scale += f * sqrt(dx * dx + dy * dy + dz * dz);
    }
    double err = sqrt((ax[i] - sx) * (ax[i] - sx) + (ay[i] - sy) * (ay[i] - sy) +
                      (az[i] - sz) * (az[i] - sz));
    if (err > 1e-4 * scale) bad++;
  }
  double kinetic = 0.0, cx = 0.0, cy = 0.0, cz = 0.0, spread = 0.0;
  for (int i = 0; i < n; i++) {
    kinetic += 0.5 * bodies[i].m * ((double)vx[i] * vx[i] + (double)vy[i] * vy[i] + (double)vz[i] * vz[i]);
    cx += bodies[i].m * (double)bodies[i].x, cy += bodies[i].m * (double)bodies[i].y,
        cz += bodies[i].m * (double)bodies[i].z;
  }
  for (int i = 0; i < n; i++)
    spread += bodies[i].m * ((bodies[i].x - cx) * (bodies[i].x - cx) +
                             (bodies[i].y - cy) * (bodies[i].y - cy) +
                             (bodies[i].z - cz) * (bodies[i].z - cz));
  printf("kinetic energy %.6e\n", kinetic);
  printf("mean squared radius %.6e\n", spread);
  printf("time: %.3f s\n", seconds);
  printf("%s\n", bad == 0 ? "PASS" : "FAIL");
  if (bad) fprintf(stderr, "%d sampled accelerations differ from the host's\n", bad);
  CHECK(cudaFree(d_bodies));
  CHECK(cudaFree(d_ax));
  CHECK(cudaFree(d_ay));
  CHECK(cudaFree(d_az));
  free(bodies);
  free(vx), free(vy), free(vz), free(ax), free(ay), free(az);
  return bad == 0 ? 0 : 1;
}
