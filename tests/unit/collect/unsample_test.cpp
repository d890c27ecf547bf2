#include <gtest/gtest.h>

#include <cmath>

#include "collect/heap/heap_collector.h"

using leakhound::collect::unsample;

TEST(Unsample, MatchesPprofScaling) {
  // pprof's scaleHeapSample: scale = 1 / (1 - exp(-avg/rate)).
  // 10 samples of 32 KiB at 64 KiB: scale = 1/(1-e^-0.5) = 2.541494...
  auto u = unsample(10, 10 * 32768, 65536);
  EXPECT_NEAR(u.objects, 25.41494, 1e-4);
  EXPECT_NEAR(u.bytes, 25.41494 * 32768, 1);
  // Huge objects are always sampled: scale -> 1.
  auto big = unsample(1, 64 << 20, 512 * 1024);
  EXPECT_NEAR(big.objects, 1, 1e-9);
}

TEST(Unsample, EdgeCases) {
  EXPECT_EQ(unsample(0, 0, 65536).bytes, 0);
  EXPECT_EQ(unsample(-3, -100, 65536).bytes, 0);  // more frees than allocs seen: nothing live
  auto every = unsample(4, 400, 1);               // rate 1: every allocation recorded
  EXPECT_EQ(every.objects, 4);
  EXPECT_EQ(every.bytes, 400);
}
