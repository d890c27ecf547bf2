#include "report/rss_text.h"

#include <gtest/gtest.h>

#include "report/units.h"

namespace leakhound::report {
namespace {

TEST(GoMemLimitLine, SaysWhenTheSpiralComes) {
  GoMemLimitForecast f;
  EXPECT_EQ(gomemlimit_line(f), "");  // no GOMEMLIMIT
  f.limited = true;
  f.limit_bytes = int64_t{1} << 30;
  f.non_heap_bytes = 8 << 20;
  f.saturation_live_bytes = 1000 << 20;
  f.spiral_live_bytes = 950 << 20;
  f.live_per_s = 1 << 20;
  f.seconds_to_bound = 400;
  f.seconds_to_saturation = 900;
  f.seconds_to_spiral = 850;
  const std::string l = gomemlimit_line(f);
  // The spiral, not saturation: the pacer's runway comes first.
  EXPECT_NE(l.find("once the live heap reaches " + human_bytes(950.0 * (1 << 20))),
            std::string::npos)
      << l;
  EXPECT_NE(l.find("the GC's runway " + human_bytes(50.0 * (1 << 20))), std::string::npos) << l;
  EXPECT_NE(l.find("continuous GC in ~" + human_eta(850)), std::string::npos) << l;
  f.seconds_to_spiral = 0;
  EXPECT_NE(gomemlimit_line(f).find("it is there now"), std::string::npos);
  f.seconds_to_spiral = -1;
  EXPECT_NE(gomemlimit_line(f).find("not growing"), std::string::npos);
}

}  // namespace
}  // namespace leakhound::report
