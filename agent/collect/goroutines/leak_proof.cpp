#include "collect/goroutines/leak_proof.h"

#include <algorithm>

#include "goruntime/runtime_symbols.h"
#include "util/log.h"

namespace leakhound::collect {

LeakProof::LeakProof(const GoTarget& t, const goruntime::GLayout& layout,
                     const LeakProofOptions& opts, report::Report& r)
    : layout_(layout), opts_(opts) {
  report::GoroutineLeakCheck& lc = r.leak_check;
  if (layout.leak_pending < 0 || layout.leak_count < 0) {
    lc.why_not =
        fmt::format("{} has no GC goroutine leak detector (Go 1.26+)", t.build.go_version.raw);
    return;
  }
  auto pending = goruntime::resolve_goroutine_leak_pending(t.elf, t.pclntab, layout.leak_pending);
  if (!pending) {
    lc.why_not = pending.error().message;
    return;
  }
  available_ = lc.available = true;
  if (!opts.request) {
    lc.why_not = "not asked for (--no-leak-check, or the daemon's --leak-check-every 0)";
    return;
  }
  if (!opts.writer) {
    lc.why_not =
        "not asked for (--read-only): only goroutines the runtime found leaked on its own count";
    return;
  }
  const uint64_t p = t.runtime_addr(*pending);
  const uint64_t c = p + static_cast<uint64_t>(layout.leak_count - layout.leak_pending);
  auto check = goruntime::GoroutineLeakCheck::open(t.proc, *opts.writer, p, c);
  if (!check) {
    lc.why_not = check.error().message;
    return;
  }
  check_.emplace(std::move(*check));
  if (opts.at_attach) request("at attach");
}

bool LeakProof::request(const char* when) {
  if (auto e = check_->trigger(); !e) {
    error_ = e.error().message;
    return false;
  }
  last_pending_ = true;
  spdlog::debug("goroutine leak check requested {}", when);
  return true;
}

bool LeakProof::request_now() {
  if (!check_) return false;
  refresh();  // a GC that took up the previous request is noted before it is overwritten
  return request("on schedule");
}

void LeakProof::poll(double now_s) {
  if (!check_) return;
  // The second request leaves the runtime a few GC cycles' time before the
  // end: 5 s, or a third of a short window.
  if (!second_done_ && opts_.window_s > 0 &&
      now_s >= opts_.window_s - std::min(5.0, opts_.window_s / 3)) {
    second_done_ = true;
    request("before the end of the window");
  }
  refresh();
}

void LeakProof::refresh() {
  if (auto p = check_->pending()) {
    if (!*p && last_pending_) ran_ = true;
    last_pending_ = *p;
  }
}

void LeakProof::observe(const goruntime::AllgSnapshot& snap) {
  for (const goruntime::Goroutine& g : snap.live) {
    if (g.status != static_cast<uint32_t>(goruntime::GStatus::Leaked)) continue;
    // `select {}` can never resume, so the runtime marks it leaked (mgc.go,
    // isMaybeRunnable); but it parks a goroutine on purpose (main in a
    // server whose work runs elsewhere), it does not forget one.
    if (g.wait_reason < layout_.wait_reasons.size() &&
        layout_.wait_reasons[g.wait_reason] == "select (no cases)")
      continue;
    leaked_[{g.gopc, g.startpc}][g.goid] = g.wait_reason;
  }
}

void LeakProof::apply(std::map<SiteKey, report::GoroutineFinding>& sites, report::Report& r) {
  report::GoroutineLeakCheck& lc = r.leak_check;
  if (check_) {
    // A target that exited is not read again: its PID may name another
    // process by now.
    if (!r.target_exited) {
      refresh();
      if (auto n = check_->count()) lc.runtime_count = *n;
    }
    lc.requests = check_->triggers();
    lc.ran = ran_;
    if (lc.requests > 0 && !ran_) {
      r.notes.emplace_back(
          "no GC cycle in the window: the runtime's goroutine leak check did not run (the "
          "program allocated too little to start one; once a program has run one GC, the runtime "
          "forces another after 2 minutes without, so a window of 2m or more sees one)");
    } else if (lc.requests > 1 && last_pending_) {
      r.notes.emplace_back(
          opts_.window_s > 0
              ? "the goroutine leak check asked for before the end of the window did not run (no "
                "GC cycle since): proofs are from the earlier one"
              : "the latest goroutine leak check asked for has not run yet (no GC cycle since): "
                "proofs are from an earlier one");
    }
  }
  if (!error_.empty()) r.notes.push_back("goroutine leak check: " + error_);
  for (const auto& [k, goids] : leaked_) {
    auto it = sites.find(k);
    if (it == sites.end() || goids.empty()) continue;
    report::GoroutineFinding& f = it->second;
    std::map<uint8_t, size_t> reasons;
    for (const auto& [goid, reason] : goids) reasons[reason]++;
    const uint8_t top =
        std::max_element(reasons.begin(), reasons.end(), [](const auto& a, const auto& b) {
          return a.second < b.second;
        })->first;
    std::string on = top < layout_.wait_reasons.size() && !layout_.wait_reasons[top].empty()
                         ? layout_.wait_reasons[top]
                         : "a channel or sync object";
    f.evidence = report::Evidence::GcProof;
    f.gc_leaked = goids.size();
    f.trend.verdict = detect::Verdict::Leak;
    f.evidence_text = fmt::format(
        "proven by the Go runtime's GC: {} goroutine{} blocked forever on {}; nothing else can "
        "reach what {} wait{} on",
        goids.size(), goids.size() == 1 ? "" : "s", on, goids.size() == 1 ? "it" : "they",
        goids.size() == 1 ? "s" : "");
    lc.proven_sites++;
    lc.proven_goroutines += goids.size();
  }
}

}  // namespace leakhound::collect
