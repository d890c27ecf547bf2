// The warm-up of a heap stack's series when the sampler was switched on at
// attach. Objects allocated before were never sampled, so a stack's sampled
// live set starts empty and fills while its objects live: a stack whose
// objects live 20 s rises for 20 s after attach, like a leak. What the test
// should judge is the in-use the stack would have shown had the sampler been
// on all along: the observed series plus the objects allocated before attach
// that would still be alive.
//
// Those are estimated from the window itself. Each allocation is taken to be
// kept for good with probability phi, or else to live an exponential lifetime
// of mean T (one time scale per stack): given the stack's own cumulative
// allocations A(t) since attach, the sampled live set is then
//   L(t) = phi A(t) + (1 - phi) F_T(t),  F_T(t) = sum over births s <= t of e^(-(t-s)/T)
// fitted by least squares over a grid of T (phi in closed form for each T).
// The objects allocated before attach at the window's mean rate a that would
// still be alive at t are (1 - phi) a T e^(-t/T) (the kept ones add a
// constant, which no trend sees). A stack that keeps everything fits phi = 1
// and is left as it is; one that frees all it allocates fits phi = 0 and its
// corrected series is flat; a leak inside churn keeps its slope.
//
// T is capped at the window's length: objects that outlive the window cannot
// be told from kept ones in it, and are judged as the leak they look like.
#pragma once

#include <vector>

#include "detect/trend.h"

namespace leakhound::detect {

struct WarmupFit {
  bool applied = false;      // false: too few points or nothing allocated
  double kept_fraction = 1;  // phi
  double lifetime_s = 0;     // T
  double alloc_rate = 0;     // a, units of the series per second
  // With `instant_deaths`: the share of allocations freed before the next
  // point, apart from those living T (delta below); 0 otherwise.
  double died_at_once = 0;
  // psi, the share that lives T on average.
  double living_fraction() const { return 1 - kept_fraction - died_at_once; }
};

// `inuse` and `allocated` (cumulative since attach, the same units and times)
// at each point; t = 0 is when what the series counts began to be seen (the
// sampler switched on, the native probes in).
//
// `instant_deaths`: a third population, freed before the next point:
//   L(t) = phi A(t) + psi F_T(t),  phi + psi <= 1,
// psi no longer 1 - phi. A stack of which half is freed at once and half
// lives long (a cache of blocks replaced at random) otherwise fits as a
// kept share with a short lifetime, a leak. For exact counts (native
// allocations); sampled series are too noisy for the extra parameter.
WarmupFit fit_warmup(const std::vector<Point>& inuse, const std::vector<Point>& allocated,
                     bool allow_kept = true, bool instant_deaths = false);

// `inuse` plus what the fit says the objects allocated before attach add at
// each point: the series to judge.
std::vector<Point> warmup_corrected(const std::vector<Point>& inuse, const WarmupFit& fit);

// The trend of `corrected` (warmup_corrected's series), as analyze judges it,
// except where the fit explains the residuals' memory: objects that die
// after a lifetime short against the window (at most a thirtieth of it),
// and a lag-1 autocorrelation of the residuals no larger than those
// lifetimes give at the series' GC spacing tau (e^(-tau/T), plus 0.2). There
// the noise is the churn's, short-lived and whitened by analyze's AR(1)
// step, not a live set turning over slowly, and the random-walk drift test
// (trend.cpp), which costs a leak inside such churn most of its power, is
// left out. On sparse_power_test's generators: 64 KiB/s kept of 1 MiB/s
// whose rest lives 1 s, 30 s at 16 KiB: 50.5% -> 78.0% leak verdicts.
Trend analyze_fitted(const std::vector<Point>& corrected, const WarmupFit& fit, double window_s,
                     const TrendConfig& cfg);

// Objects that mostly die, but live long against the window (a lifetime over
// a quarter of it), leave a fit that cannot tell a share of kept objects from
// a longer lifetime: their warm-up and a leak look alike. Such a stack's
// verdict stops at "growing", with that reason.
void require_short_lifetimes(Trend& t, const WarmupFit& fit, double window_s);

// The condition require_short_lifetimes holds a leak at: objects that mostly
// die, living over a quarter of the window. Its reason text, for sums of
// stacks held at "growing" for the same cause.
bool warmup_ambiguous(const WarmupFit& fit, double window_s);
extern const char* const kWarmupAmbiguousReason;

// All of the above for a series whose allocations since t = 0 are known:
// fitted, corrected, judged (analyze_fitted) and held at "growing" where the
// fit cannot tell a leak from its warm-up. The heap's stacks when leakhound
// switched the sampler on, and native stacks, whose blocks from before the
// probes went in are never seen, alike.
struct WarmupVerdict {
  Trend trend;
  WarmupFit fit;
  std::vector<Point> corrected;  // the series the trend was judged on
};
WarmupVerdict analyze_warmup(const std::vector<Point>& inuse, const std::vector<Point>& allocated,
                             double window_s, const TrendConfig& cfg, bool instant_deaths = false);

}  // namespace leakhound::detect
