// nbody-omp: gravitational N-body simulation, all pairs, leapfrog (kick-drift-kick),
// on the CPU with OpenMP (the CPU counterpart of examples/nbody).
//
// N bodies of equal mass 1/N start at pseudo-random positions in the unit ball
// with small random velocities (fixed-seed LCG); G = 1, softening EPS2 = 1e-4,
// time step DT = 1e-3. Each step: v += a*dt/2; x += v*dt; a = accel(x); v += a*dt/2.
// The program prints the kinetic energy and the mean squared radius at the end.
//
// Usage: nbody-omp [N=10240] [STEPS=10]
//
// Written the way a first working version usually is. Deliberately inefficient:
//  - every step computes the accelerations twice, at the start and at the end,
//    although the start-of-step values are the ones the previous step ended with;
//  - pow(r2, 1.5) and a division per pair instead of one reciprocal square root;
//  - array of structs, so the inner loop does not vectorise well;
//  - schedule(dynamic, 1) hands out one body at a time;
//  - the kinetic energy is accumulated inside a critical section.
// Self-check: the accelerations at the final positions are recomputed serially
// for 256 sampled bodies.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define EPS2 1e-4
#define DT 1e-3

struct Body {
  double x, y, z, m, vx, vy, vz, ax, ay, az;
};

static uint32_t lcg_state = 4242u;
static double lcg_symmetric() {  // in [-1, 1)
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return (lcg_state >> 8) * (2.0 / 16777216.0) - 1.0;
}

static void accelerations(Body *b, int n) {
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < n; i++) {
    double sx = 0.0, sy = 0.0, sz = 0.0;
    for (int j = 0; j < n; j++) {
      double dx = b[j].x - b[i].x, dy = b[j].y - b[i].y, dz = b[j].z - b[i].z;
      double r2 = dx * dx + dy * dy + dz * dz + EPS2;
      double s = b[j].m / pow(r2, 1.5);
      sx += dx * s, sy += dy * s, sz += dz * s;
    }
    b[i].ax = sx, b[i].ay = sy, b[i].az = sz;
  }
}

int main(int argc, char **argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 10240;
  const int steps = argc > 2 ? atoi(argv[2]) : 10;
  if (n < 2 || steps < 1) {
    fprintf(stderr, "usage: %s [N>=2] [STEPS>=1]\n", argv[0]);
    return 2;
  }
  printf("nbody-omp: N=%d steps=%d\n", n, steps);
  Body *b = (Body *)calloc(n, sizeof(Body));
  if (!b) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  for (int i = 0; i < n; i++) {
    double x, y, z;
    do {
      x = lcg_symmetric(), y = lcg_symmetric(), z = lcg_symmetric();
    } while (x * x + y * y + z * z > 1.0);
    b[i].x = x, b[i].y = y, b[i].z = z, b[i].m = 1.0 / n;
    b[i].vx = 0.1 * lcg_symmetric(), b[i].vy = 0.1 * lcg_symmetric(), b[i].vz = 0.1 * lcg_symmetric();
  }

  double kinetic = 0.0;
  auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < steps; step++) {
    accelerations(b, n);
#pragma omp parallel for
    for (int i = 0; i < n; i++) {
      b[i].vx += 0.5 * DT * b[i].ax, b[i].vy += 0.5 * DT * b[i].ay, b[i].vz += 0.5 * DT * b[i].az;
      b[i].x += DT * b[i].vx, b[i].y += DT * b[i].vy, b[i].z += DT * b[i].vz;
    }
    accelerations(b, n);
    kinetic = 0.0;
#pragma omp parallel for
    for (int i = 0; i < n; i++) {
      b[i].vx += 0.5 * DT * b[i].ax, b[i].vy += 0.5 * DT * b[i].ay, b[i].vz += 0.5 * DT * b[i].az;
#pragma omp critical
      kinetic += 0.5 * b[i].m * (b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz);
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int bad = 0;
  for (int s = 0; s < 256; s++) {
    int i = (int)(((long long)s * n) / 256);
    double sx = 0, sy = 0, sz = 0, scale = 0;  // scale: sum of the terms' magnitudes
    for (int j = 0; j < n; j++) {
      double dx = b[j].x - b[i].x, dy = b[j].y - b[i].y, dz = b[j].z - b[i].z;
      double r2 = dx * dx + dy * dy + dz * dz + EPS2;
      double f = b[j].m / (r2 * sqrt(r2));
      sx += dx * f, sy += dy * f, sz += dz * f;
      scale += f * sqrt(dx * dx + dy * dy + dz * dz);
    }
    double err = sqrt((b[i].ax - sx) * (b[i].ax - sx) + (b[i].ay - sy) * (b[i].ay - sy) +
                      (b[i].az - sz) * (b[i].az - sz));
    if (err > 1e-4 * scale) bad++;
  }
  double cx = 0.0, cy = 0.0, cz = 0.0, spread = 0.0;
  for (int i = 0; i < n; i++) cx += b[i].m * b[i].x, cy += b[i].m * b[i].y, cz += b[i].m * b[i].z;
  for (int i = 0; i < n; i++)
    spread += b[i].m * ((b[i].x - cx) * (b[i].x - cx) + (b[i].y - cy) * (b[i].y - cy) +
                        (b[i].z - cz) * (b[i].z - cz));
  printf("kinetic energy %.6e\n", kinetic);
  printf("mean squared radius %.6e\n", spread);
  printf("time: %.3f s\n", seconds);
  printf("%s\n", bad == 0 ? "PASS" : "FAIL");
  if (bad) fprintf(stderr, "%d sampled accelerations differ from the serial ones\n", bad);
  free(b);
  return bad == 0 ? 0 : 1;
}
