"""Event windows on the step grid: counts from rates, overlap tests, per-chunk slices. Pure helpers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def systematic_count(expected: float, rng: np.random.Generator) -> int:
    """floor(expected) plus one with probability frac(expected): counts track the rate tightly."""
    whole = math.floor(expected)
    return whole + int(rng.random() < expected - whole)


def overlaps_any(windows: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(start < w_end and w_start < end for w_start, w_end in windows)


def drop_overlapping(events: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    """Keep events whose window [start, end) meets no earlier window of the same unit.

    Vectorised: sorted by (comp, start), a running maximum of the offset end times is the latest
    window end seen so far for that unit (offsets keep units apart).
    """
    if events.empty:
        return events
    events = events.sort_values(["comp", start], kind="stable", ignore_index=True)
    span = int(max(events[end].max(), events[start].max())) + 2
    offset = events["comp"].to_numpy() * span
    ends = np.maximum(events[end].to_numpy(), events[start].to_numpy() + 1) + offset
    seen = np.maximum.accumulate(ends)
    previous = np.concatenate([[-1], seen[:-1]])
    return events[events[start].to_numpy() + offset >= previous].reset_index(drop=True)


def outside_windows(comp: np.ndarray, start: np.ndarray, end: np.ndarray, windows: pd.DataFrame,
                     w_start: str, w_end: str) -> np.ndarray:
    """True where [start, end) meets none of the unit's (mutually disjoint) windows."""
    if windows.empty:
        return np.ones(comp.size, dtype=bool)
    span = int(max(windows[w_end].max(), end.max() if end.size else 0)) + 2
    order = np.argsort(windows["comp"].to_numpy() * span + windows[w_start].to_numpy(), kind="stable")
    ws = (windows["comp"].to_numpy() * span + windows[w_start].to_numpy())[order]
    we = (windows["comp"].to_numpy() * span + windows[w_end].to_numpy())[order]
    lo, hi = comp * span + start, comp * span + np.maximum(end, start + 1)
    idx = np.searchsorted(ws, hi, side="left") - 1  # the last window starting before we end
    hit = (idx >= 0) & (we[np.maximum(idx, 0)] > lo)
    return ~hit



def rows_for(events: pd.DataFrame, c0: int, c1: int) -> pd.DataFrame:
    """The rows of units c0..c1-1 (events sorted by comp)."""
    comp = events["comp"].to_numpy()
    lo, hi = np.searchsorted(comp, [c0, c1])
    return events.iloc[lo:hi]
