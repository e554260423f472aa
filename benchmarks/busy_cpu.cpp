// A CPU load of a given length, for the decision benchmarks on the cpu device.
// Usage: busy_cpu SECONDS   (default 1.0). Spins one core for that long, then prints PASS.
#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    const double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    const auto start = std::chrono::steady_clock::now();
    volatile double sink = 0.0;
    double elapsed = 0.0;
    long rounds = 0;
    do {
        for (int i = 0; i < 10000; ++i) sink = sink + 1.0;
        ++rounds;
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < seconds);
    // the round count varies from run to run: on a timing line, which output checks skip
    printf("time: %.3f s, %ld rounds\n", elapsed, rounds);
    printf("PASS\n");
    return 0;
}
