// Power of the heap verdict on sparse sampled stacks: detection rate against
// leak rate, window length and sampling rate, and false leaks on churn,
// sawtooth caches, plateaus and bursts, all simulated object by object
// through the runtime's sampler (each object sampled with p = 1 -
// e^(-size/rate), each GC publishing the heap of the GC before it) with the
// sampler switched on at the window's start (the program had it off), judged
// as the collector judges a stack. Seeded, so the rates are exact for a given
// standard library. LEAKHOUND_POWER_TABLE=1 prints the tables in
// docs/report-format.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "detect/trend.h"
#include "detect/warmup.h"

namespace leakhound::detect {
namespace {

using Rng = std::mt19937;

constexpr double kSize = 512;  // bytes per object: the 64 B - 4 KiB

struct Obj {
  double born, dies;  // dies: INFINITY when kept
};

struct Stack {
  std::vector<Point> series;     // unsampled in-use bytes, as published at each GC
  std::vector<double> frees;     // sampled frees by then
  std::vector<Point> allocated;  // unsampled bytes allocated since t = 0, as published
  double alloc_bytes = 0;        // unsampled allocations in the window
};

// The sampler is switched on at t = 0 (the program had it off: the case the
// issue is about), so only objects allocated in the window are ever sampled;
// shapes generate the sampled objects only (a Poisson process thinned by p).
Stack observe(Rng& rng, const std::vector<Obj>& objs, double p, double window) {
  std::vector<double> born, dies;
  for (const Obj& o : objs) {
    born.push_back(o.born);
    dies.push_back(o.dies);
  }
  std::sort(born.begin(), born.end());
  std::sort(dies.begin(), dies.end());
  std::uniform_real_distribution<double> gap(0.3, 0.7);
  std::vector<double> gcs;
  for (double t = gap(rng); t < window; t += gap(rng)) gcs.push_back(t);
  Stack s;
  // The collector's points: each GC's publication shows the heap of the GC
  // before it (the first, of a GC before t = 0, nothing sampled yet), and
  // is timed there.
  for (size_t i = 0; i < gcs.size(); ++i) {
    const double as_of = i > 0 ? gcs[i - 1] : 0;
    const auto allocs =
        static_cast<double>(std::upper_bound(born.begin(), born.end(), as_of) - born.begin());
    // An object dies only after it is born, so frees among the born.
    const auto frees =
        static_cast<double>(std::upper_bound(dies.begin(), dies.end(), as_of) - dies.begin());
    s.series.push_back({as_of, (allocs - frees) * kSize / p});
    s.frees.push_back(frees);
    s.allocated.push_back({as_of, allocs * kSize / p});
  }
  s.alloc_bytes = static_cast<double>(objs.size()) * kSize / p;
  return s;
}

// Sampled objects of Poisson allocations at `bytes_per_s` over [from, to)
// (from 0 at the earliest: the sampler's start), lifetime from `dies`.
void allocate(Rng& rng, std::vector<Obj>& out, double p, double bytes_per_s, double from, double to,
              const std::function<double(double)>& dies) {
  from = std::max(from, 0.0);
  if (bytes_per_s <= 0 || to <= from) return;
  std::exponential_distribution<double> next(bytes_per_s / kSize * p);
  for (double t = from + next(rng); t < to; t += next(rng)) out.push_back({t, dies(t)});
}

// As the collector judges a stack (judge_heap) whose sampler leakhound
// switched on: the series corrected for its warm-up (detect/warmup.h), and a
// leak only when its objects do not mostly live long against the window.
bool is_leak(const Stack& s, double window) {
  const TrendConfig cfg;
  Trend t = analyze_warmup(s.series, s.allocated, window, cfg).trend;
  require_retention(t, s.alloc_bytes, window, 0.01);
  return t.verdict == Verdict::Leak;
}

using Shape = std::function<std::vector<Obj>(Rng&, double window, double p)>;

Shape leak(double bytes_per_s) {
  return [=](Rng& rng, double w, double p) {
    std::vector<Obj> o;
    allocate(rng, o, p, bytes_per_s, -20, w, [](double) { return INFINITY; });
    return o;
  };
}

// A leak inside churn on the same stack: `bytes_per_s` kept, `churn_per_s`
// more that live exponential lifetimes of mean `life_s`.
Shape leak_in_churn(double bytes_per_s, double churn_per_s, double life_s) {
  return [=](Rng& rng, double w, double p) {
    std::vector<Obj> o;
    allocate(rng, o, p, bytes_per_s, -20, w, [](double) { return INFINITY; });
    std::exponential_distribution<double> life(1 / life_s);
    allocate(rng, o, p, churn_per_s, -60, w, [&](double t) { return t + life(rng); });
    return o;
  };
}

// Short-lived objects at 1 MiB/s, exponential lifetimes of mean `life_s`.
Shape churn(double life_s) {
  return [=](Rng& rng, double w, double p) {
    std::vector<Obj> o;
    std::exponential_distribution<double> life(1 / life_s);
    allocate(rng, o, p, 1 << 20, -60, w, [&](double t) { return t + life(rng); });
    return o;
  };
}

// A cache filled at 256 KiB/s and flushed every `period_s`.
Shape sawtooth(double period_s) {
  return [=](Rng& rng, double w, double p) {
    std::vector<Obj> o;
    const double phase = std::uniform_real_distribution<double>(0, period_s)(rng);
    allocate(rng, o, p, 256 << 10, -60, w,
             [&](double t) { return (std::floor((t + phase) / period_s) + 1) * period_s - phase; });
    return o;
  };
}

// A warm-up that keeps everything it allocates in the first 30% of the window.
Shape plateau() {
  return [](Rng& rng, double w, double p) {
    std::vector<Obj> o;
    allocate(rng, o, p, 256 << 10, -1, 0.3 * w, [](double) { return INFINITY; });
    return o;
  };
}

// Three 1 s bursts at 4 MiB/s whose objects live 1-3 s, over 64 KiB/s of
// background churn.
Shape bursts() {
  return [](Rng& rng, double w, double p) {
    std::vector<Obj> o;
    std::uniform_real_distribution<double> at(0, w - 1), life(1, 3), bg(0.05, 2);
    for (int b = 0; b < 3; ++b) {
      const double s = at(rng);
      allocate(rng, o, p, 4 << 20, s, s + 1, [&](double t) { return t + life(rng); });
    }
    allocate(rng, o, p, 64 << 10, -10, w, [&](double t) { return t + bg(rng); });
    return o;
  };
}

struct Rates {
  double leak = 0;  // share of windows called leak
};

Rates leak_rates(const Shape& shape, double window, double rate, int runs, unsigned seed0) {
  const double p = 1 - std::exp(-kSize / rate);
  Rates r;
  for (int i = 0; i < runs; ++i) {
    Rng rng(seed0 + static_cast<unsigned>(i));
    const bool leak = is_leak(observe(rng, shape(rng, window, p), p, window), window);
    r.leak += leak;
  }
  r.leak /= runs;
  return r;
}

bool print_tables() { return std::getenv("LEAKHOUND_POWER_TABLE") != nullptr; }

constexpr int kRuns = 200;

// Detection rate: what the number of samples buys. The same leak is caught
// at a fine rate and missed at 512 KiB: samples, not the test, are what
// limits a 30 s window (detection at 16 KiB/s: 99% at a 16 KiB rate).
TEST(SparsePower, DetectionAgainstLeakRateWindowAndSamplingRate) {
  struct Cell {
    double leak, window, rate, at_least;  // at_least: pinned detection rate
  };
  const std::vector<Cell> cells = {
      {16 << 10, 30, 16 << 10, 0.95},   {16 << 10, 30, 64 << 10, 0.15},
      {16 << 10, 60, 64 << 10, 0.70},   {64 << 10, 15, 64 << 10, 0.70},
      {64 << 10, 30, 64 << 10, 0.95},   {64 << 10, 30, 512 << 10, 0},
      {64 << 10, 60, 512 << 10, 0.15},  {256 << 10, 15, 512 << 10, 0.20},
      {256 << 10, 30, 512 << 10, 0.70}, {256 << 10, 30, 64 << 10, 0.95},
  };
  if (print_tables()) {
    std::printf(
        "| leak in churn | window | MemProfileRate | leak verdicts |\n| --- | --- | --- | --- |\n");
    for (double life : {0.1, 1.0, 3.0, 10.0})
      for (double rate : {16384.0, 65536.0}) {
        const Rates r = leak_rates(leak_in_churn(64 << 10, 1 << 20, life), 30, rate, kRuns, 1);
        std::printf("| 64 KiB/s in 1 MiB/s of %.1f s | 30 s | %.0f KiB | %.1f%% |\n", life,
                    rate / 1024, 100 * r.leak);
      }
    std::printf("| leak | window | MemProfileRate | leak verdicts |\n| --- | --- | --- | --- |\n");
  }
  // A leak inside churn of 1 s lifetimes on its own stack: 50.5% while the
  // random-walk drift test judged it, 78% where analyze_fitted credits the
  // residuals' memory to the fitted lifetimes.
  EXPECT_GE(leak_rates(leak_in_churn(64 << 10, 1 << 20, 1.0), 30, 16384, kRuns, 1).leak, 0.7);
  for (const Cell& c : cells) {
    const Rates r = leak_rates(leak(c.leak), c.window, c.rate, kRuns, 1);
    if (print_tables())
      std::printf("| %.0f KiB/s | %.0f s | %.0f KiB | %.1f%% |\n", c.leak / 1024, c.window,
                  c.rate / 1024, 100 * r.leak);
    EXPECT_GE(r.leak, c.at_least) << c.leak << " B/s, " << c.window << " s at " << c.rate;
  }
}

// The report's sensitivity (heap_verdicts.leak_floor_bytes_per_s) rests on
// kSamplesForLeak: a leak bringing that many expected samples is a leak in at
// least 9 windows of 10 at any rate and window length, one bringing half as
// many in well under that.
TEST(SparsePower, LeakFloorIsALeakNineTimesInTen) {
  if (print_tables())
    std::printf(
        "| window | MemProfileRate | leak floor | at the floor | at half |\n"
        "| --- | --- | --- | --- | --- |\n");
  for (auto [window, rate] : {std::pair{30.0, 16384.0},
                              {30.0, 65536.0},
                              {15.0, 65536.0},
                              {30.0, 524288.0},
                              {60.0, 524288.0}}) {
    const double floor = kSamplesForLeak * rate / window;
    const Rates at = leak_rates(leak(floor), window, rate, kRuns, 11);
    const Rates half = leak_rates(leak(floor / 2), window, rate, kRuns, 11);
    if (print_tables())
      std::printf("| %.0f s | %.0f KiB | %.1f KiB/s | %.1f%% | %.1f%% |\n", window, rate / 1024,
                  floor / 1024, 100 * at.leak, 100 * half.leak);
    EXPECT_GE(at.leak, 0.9) << window << " s at " << rate;
    EXPECT_LE(half.leak, 0.8) << window << " s at " << rate;
  }
}

struct Control {
  const char* name;
  Shape shape;
};

void false_leaks(const std::vector<Control>& controls, const std::vector<double>& windows,
                 double max_rate) {
  for (const Control& c : controls) {
    for (double window : windows) {
      for (double rate : {16384.0, 65536.0, 524288.0}) {
        const Rates r = leak_rates(c.shape, window, rate, kRuns, 5000);
        if (print_tables())
          std::printf("| %s | %.0f s | %.0f KiB | %.1f%% |\n", c.name, window, rate / 1024,
                      100 * r.leak);
        if (max_rate >= 1) continue;  // a known gap: measured, not pinned
        EXPECT_LE(r.leak, max_rate) << c.name << ", " << window << " s at " << rate;
      }
    }
  }
}

// At most 1% false leaks in 200 windows for every control whose objects live
// well inside the window (measured: 0 everywhere but churn of 0.5 s objects
// at a 64 KiB rate, 1 in 200).
TEST(SparsePower, NoFalseLeaksOnControls) {
  if (print_tables())
    std::printf(
        "| control | window | MemProfileRate | leak verdicts |\n| --- | --- | --- | --- |\n");
  // 1 and 1.5 s: the churn whose memory detect::analyze_fitted credits to
  // its lifetimes (up to a thirtieth of the window) instead of testing it
  // for a random walk's drift.
  false_leaks({{"churn, 0.5 s lifetimes", churn(0.5)},
               {"churn, 1 s lifetimes", churn(1)},
               {"churn, 1.5 s lifetimes", churn(1.5)},
               {"sawtooth, 4 s period", sawtooth(4)},
               {"plateau after 30%", plateau()},
               {"bursts", bursts()}},
              {30, 60}, 0.01);
  // Live sets still filling after the sampler was switched on at attach:
  // objects that live a good part of the window rise like a leak until the
  // warm-up fit (detect/warmup.h) takes out what the objects allocated
  // before attach would add. Measured in 200 windows at 16 / 64 / 512 KiB:
  // 5 s lifetimes 4 / 1.5 / 0.5% at 30 s, 20 s lifetimes 0 / 0 / 10%
  // (before the fit: 100 / 100 / 25%); the coarse rate's few samples leave
  // the fit noisy. Pinned at 15%.
  false_leaks({{"churn, 5 s lifetimes", churn(5)},
               {"churn, 20 s lifetimes", churn(20)},
               {"sawtooth, 10 s period", sawtooth(10)}},
              {30, 60}, 0.15);
  // 15 s windows are too short for lifetimes of 5 to 20 s: measured only.
  if (print_tables())
    false_leaks({{"churn, 0.5 s lifetimes", churn(0.5)},
                 {"churn, 5 s lifetimes", churn(5)},
                 {"churn, 20 s lifetimes", churn(20)},
                 {"sawtooth, 10 s period", sawtooth(10)}},
                {15}, 1);
}

}  // namespace
}  // namespace leakhound::detect
