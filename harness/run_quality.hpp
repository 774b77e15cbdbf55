// When a measurement is not to be trusted: the documented bounds a `bench` run
// is held to, and the reasons a row is marked `disturbed` (a disturbed row is
// kept, with its note, but no verdict is drawn from it: bench_targets.hpp).
//
// A case is disturbed when, after `attempts` timings (the first plus re-runs),
// its last timing still has
//   - a spread p80 / p20 over the repetitions above max_spread, or
//   - competing work (contention.hpp): its threads waited for a core more than
//     max_run_delay of threads x the timed wall time while the process was
//     preempted more than max_preemptions_per_s (another process held the cores).
// Every row of a run is disturbed when the ceilings measured at its start and
// its end differ by more than max_ceiling_change (the larger over the smaller,
// minus 1, for the all-threads GEMM, the one-thread GEMM and the copy), or when
// either measurement saw competing work as above.
#pragma once

#include <string>

#include "bench_runner.hpp"
#include "ceilings.hpp"
#include "results_row.hpp"

namespace dfw {

struct QualityLimits {
  // p80 / p20. The committed quiet CPU runs had a median spread of 1.01-1.03 and a
  // 90th percentile of 1.04-1.32 per preset (the widest: 20 us decode steps and
  // prefills sharing a memory bus); one re-run brings a case over 1.25 back in
  // most of the time, while a time slice lost to another process (4-8 ms against
  // cases of 0.02-200 ms) moves p80 far past it. 1.25 is also below the widest
  // ratio limits the targets judge (1.2 and 1.3 apart from their ratios of 20 and 2.5).
  double max_spread = 1.25;
  // Share of threads x wall time spent runnable but off a core. A CPU hog on one
  // of two cores shows 25-50%; a quiet machine shows little beyond the wake-up
  // latency of sleeping threads, which the preemption rate below tells apart.
  double max_run_delay = 0.05;
  // Involuntary context switches per second: a competitor preempts a thread at
  // every time slice (tens to hundreds per second); a quiet machine's kernel
  // threads do so a few times per second at most.
  double max_preemptions_per_s = 20;
  // Ceilings at the end of a run against those at its start (issue 11: 15%).
  double max_ceiling_change = 0.15;
  int attempts = 3;  // timings of one case at most (the first and two re-runs)
};

// "" when the timing is trustworthy under q, else why not, e.g.
// "p80/p20 = 1.41 > 1.25" or "threads waited for a core 23% of the time (> 5%)".
// Rows that are not ok are never disturbed (there is no timing to doubt).
std::string timing_disturbance(const CaseTiming& t, const QualityLimits& q);

// "" when the start and end ceilings agree within q and neither was measured
// while the threads waited for a core, else why not, e.g.
// "ceilings changed during the run: GEMM 67.2 GFLOP/s at the start, 318 at the end".
std::string ceilings_disturbance(const Ceilings& start, const Ceilings& end, const QualityLimits& q);

// Sets row.disturbed and adds "disturbed: WHY" to its note.
void mark_disturbed(ResultRow& row, const std::string& why);
// Adds text to row.note ("; " between entries).
void add_note(ResultRow& row, const std::string& text);

}  // namespace dfw
