"""Timing one consolidation of a large vote table the way the scale benches report it (boxes, segments):
wall and CPU seconds, the machine's load, peak memory before and after."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

import pyarrow as pa

from tasks.consensus.pipeline import (
    ConsensusInputs,
    ConsensusOutcome,
    ConsensusSettings,
    run_consensus,
)

__all__ = ["Timed", "timed_consolidation"]


@dataclass(frozen=True)
class Timed:
    out: ConsensusOutcome
    wall: float
    cpu: float
    load: float
    peak_mb: float
    before_mb: float

    def line(self) -> str:
        """The figures as the benches print them, after what was consolidated."""
        return (f"consolidated in {self.wall:.1f}s wall, {self.cpu:.1f}s CPU (load average {self.load:.1f} on "
                f"{os.cpu_count()} cores; {self.out.fit['n_iter']} EM iterations), {self.out.labels.num_rows:,} labels "
                f"rows; peak RSS {self.peak_mb:.0f} MB (after building the votes: {self.before_mb:.0f} MB)")


def timed_consolidation(votes: pa.Table, settings: ConsensusSettings) -> Timed:
    """`run_consensus` on `votes` alone (no gold, no scoring votes), timed."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    empty = pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())})
    t0, c0 = time.perf_counter(), time.process_time()
    out = run_consensus(settings, ConsensusInputs(votes, votes.slice(0, 0), empty, empty))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return Timed(out, wall, cpu, os.getloadavg()[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, before)
