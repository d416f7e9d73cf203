"""Overlaps and interruptions between speakers, from segment times.

Two segments of different speakers overlap when their [start, end) intervals
intersect. When B starts while A is speaking and A's segment ends before B's
does, B took the floor: an interruption of A by B. When A goes on past the end
of B's segment (a backchannel, "uhum"), or both start together, it is an
overlap only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Timed(NamedTuple):
    speaker: str
    start: float
    end: float


@dataclass
class Overlaps:
    count: dict[str, int] = field(default_factory=dict)  # overlaps a speaker took part in
    seconds: dict[str, float] = field(default_factory=dict)
    made: dict[str, int] = field(default_factory=dict)  # interruptions by the speaker
    received: dict[str, int] = field(default_factory=dict)  # interruptions of the speaker
    events: int = 0
    total_s: float = 0.0

    def add(self, first: Timed, second: Timed, seconds: float) -> None:
        self.events += 1
        self.total_s += seconds
        for name in (first.speaker, second.speaker):
            self.count[name] = self.count.get(name, 0) + 1
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        if second.start > first.start and second.end > first.end:
            self.made[second.speaker] = self.made.get(second.speaker, 0) + 1
            self.received[first.speaker] = self.received.get(first.speaker, 0) + 1


def overlaps(segments: list[Timed], min_overlap_s: float) -> Overlaps:
    """Sweep the segments by start time, keeping those still speaking."""
    found = Overlaps()
    active: list[Timed] = []
    for segment in sorted(segments, key=lambda s: (s.start, s.end)):
        active = [a for a in active if a.end > segment.start]
        for earlier in active:
            if earlier.speaker == segment.speaker:
                continue
            seconds = min(earlier.end, segment.end) - segment.start
            if seconds > 0 and seconds >= min_overlap_s:
                found.add(earlier, segment, seconds)
        active.append(segment)
    return found


def speech_time(segments: list[Timed]) -> float:
    """Seconds in which at least one person speaks (the union of the intervals)."""
    total, reach = 0.0, float("-inf")
    for segment in sorted(segments, key=lambda s: s.start):
        if segment.end <= reach:
            continue
        total += segment.end - max(segment.start, reach)
        reach = segment.end
    return total
