"""What a criterion may look at: one cohort's data up to the screening day, as per-patient arrays.

Every accessor returns a numpy array aligned with ``patients`` (one entry per patient),
with NaN / None where the value is missing — so a rule never has to ask whether a column
exists: a missing column, an ignored (imputed) column and an empty cell all look the same
(missing), and `why_missing` says which one it was for the reason text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

# codes of one criterion's verdict per patient (int8 arrays); strings only at the end
MET, FAILED, NOT_ASSESSABLE = 1, 0, -1
STATUS_TEXT = {MET: "met", FAILED: "failed", NOT_ASSESSABLE: "not_assessable"}

_TRUE = {"true", "1", "1.0", "yes", "y", "t"}
_FALSE = {"false", "0", "0.0", "no", "n", "f"}


@dataclass(frozen=True)
class Verdict:
    """One criterion's result for every patient: ``code`` (MET/FAILED/NOT_ASSESSABLE) and ``detail``.

    ``detail`` is a short text per patient ("age 71", "lvef_pct missing"), empty when
    the criterion is met and there is nothing worth saying.
    """

    code: np.ndarray
    detail: np.ndarray


@dataclass
class ScreeningInput:
    """A cohort seen from the screening day: only events and measurements on or before ``as_of_day``.

    ``records_events``: event types whose absence means "did not happen" (the cohort
    records them); absence of any other event type makes a rule that needs it not
    assessable. ``ignore_columns``: patient columns treated as missing (e.g. imputed
    placeholders of a public data set).
    """

    patients: pd.DataFrame
    events: pd.DataFrame
    measurements: pd.DataFrame
    as_of_day: float
    records_events: frozenset[str] = frozenset()
    ignore_columns: frozenset[str] = frozenset()
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.patients)

    @cached_property
    def ids(self) -> pd.Index:
        return pd.Index(self.patients["patient_id"].astype(str))

    # ---- patient columns -------------------------------------------------------------
    def has(self, column: str) -> bool:
        return column in self.patients.columns and column not in self.ignore_columns

    def why_missing(self, column: str) -> str:
        """Reason text for a missing value of ``column`` (same for every patient)."""
        if column in self.ignore_columns:
            return f"{column} is an imputed placeholder"
        if column not in self.patients.columns:
            return f"no {column} column"
        return f"{column} missing"

    def why_missing_each(self, column: str) -> np.ndarray:
        """Per patient: "{column} unknown" where the value is the contract's ``unknown``, else `why_missing`."""
        out = np.full(self.n, self.why_missing(column), dtype=object)
        if self.has(column):
            raw = self.patients[column].astype("string").str.strip()
            out[(raw == "unknown").fillna(False).to_numpy(bool)] = f"{column} unknown"
        return out

    def number(self, column: str) -> np.ndarray:
        """Column as floats; NaN where missing, unparseable, absent or ignored."""
        if not self.has(column):
            return np.full(self.n, np.nan)
        return pd.to_numeric(self.patients[column], errors="coerce").to_numpy(dtype=float)

    def flag(self, column: str) -> np.ndarray:
        """Boolean column as floats 1.0 / 0.0, NaN where missing (accepts true/false, 1/0, yes/no)."""
        if not self.has(column):
            return np.full(self.n, np.nan)
        raw = self.patients[column]
        if pd.api.types.is_bool_dtype(raw.dtype) or pd.api.types.is_numeric_dtype(raw.dtype):
            values = pd.to_numeric(raw, errors="coerce").astype(float).to_numpy()
            return np.where(np.isin(values, (0.0, 1.0)), values, np.nan)
        low = raw.astype("string").str.strip().str.lower()
        out = np.full(self.n, np.nan)
        out[low.isin(_TRUE).fillna(False).to_numpy(bool)] = 1.0
        out[low.isin(_FALSE).fillna(False).to_numpy(bool)] = 0.0
        return out

    def text(self, column: str) -> np.ndarray:
        """Column as stripped strings (object array), None where missing (read-only, cached)."""
        key = ("text", column)
        if key not in self._cache:
            self._cache[key] = self._text(column)
            self._cache[key].flags.writeable = False
        return self._cache[key]

    def _text(self, column: str) -> np.ndarray:
        if not self.has(column):
            return np.full(self.n, None, dtype=object)
        raw = self.patients[column].astype("string").str.strip()
        # contract v2: ``unknown`` is missing information, never a value a criterion can judge
        ok = (raw.notna() & (raw != "") & (raw != "unknown")).fillna(False).to_numpy(bool)
        out = np.full(self.n, None, dtype=object)
        out[ok] = raw.to_numpy(dtype=object)[ok]
        return out

    # ---- events and measurements (already restricted to day <= as_of_day) -----------
    def _rows(self, table: pd.DataFrame) -> np.ndarray:
        return self.ids.get_indexer(table["patient_id"].astype(str))

    def event_rows(self, event: str, max_day: float | None = None) -> pd.DataFrame:
        """Rows of one event type, with a ``row`` column (patient position), optionally day <= max_day."""
        key = ("event_rows", event, max_day)
        if key not in self._cache:
            ev = self.events[self.events["event"] == event]
            if max_day is not None:
                ev = ev[ev["day"] <= max_day]
            ev = ev.assign(row=self._rows(ev))
            self._cache[key] = ev[ev["row"] >= 0]
        return self._cache[key]

    def first_event_day(self, event: str, max_day: float | None = None) -> np.ndarray:
        """Day of each patient's first ``event`` (NaN: none on or before ``max_day`` / as_of_day)."""
        ev = self.event_rows(event, max_day)
        out = np.full(self.n, np.nan)
        if len(ev):
            first = ev.groupby("row")["day"].min()
            out[first.index.to_numpy()] = first.to_numpy(dtype=float)
        return out

    def latest_measurement(self, marker: str, min_day: float, max_day: float) -> np.ndarray:
        """Each patient's latest value of ``marker`` with min_day < day <= max_day (NaN: none)."""
        m = self.measurements
        m = m[(m["marker"] == marker) & (m["day"] > min_day) & (m["day"] <= max_day)]
        out = np.full(self.n, np.nan)
        if len(m):
            m = m.assign(row=self._rows(m), value=pd.to_numeric(m["value"], errors="coerce"))
            m = m[(m["row"] >= 0) & m["value"].notna()].sort_values(["row", "day"], kind="stable")
            last = m.groupby("row")["value"].last()
            out[last.index.to_numpy()] = last.to_numpy(dtype=float)
        return out

    @cached_property
    def last_observed_day(self) -> np.ndarray:
        """Latest day with any event or measurement (on or before as_of_day); NaN: none."""
        out = np.full(self.n, np.nan)
        for table in (self.events, self.measurements):
            if len(table):
                days = table.assign(row=self._rows(table))
                days = days[days["row"] >= 0].groupby("row")["day"].max()
                idx = days.index.to_numpy()
                out[idx] = np.fmax(out[idx], days.to_numpy(dtype=float))
        return out

    @cached_property
    def followup_ended_day(self) -> np.ndarray:
        """Day a patient's follow-up ended alive, if it did by as_of_day (NaN otherwise).

        A ``last_followup`` that is the patient's latest record, with no death, means
        the record stops there: nothing is known about the days after it.
        """
        lfu = np.full(self.n, np.nan)
        ev = self.event_rows("last_followup")
        if len(ev):
            last = ev.groupby("row")["day"].max()
            lfu[last.index.to_numpy()] = last.to_numpy(dtype=float)
        died = ~np.isnan(self.first_event_day("death"))
        ended = ~np.isnan(lfu) & ~died & (lfu >= self.last_observed_day)
        return np.where(ended, lfu, np.nan)


def fmt(values: np.ndarray, mask: np.ndarray, template: str) -> np.ndarray:
    """Object array: ``template.format(v)`` where ``mask``, "" elsewhere (only masked rows formatted)."""
    out = np.full(len(mask), "", dtype=object)
    idx = np.flatnonzero(mask)
    if len(idx):
        out[idx] = [template.format(v) for v in np.asarray(values)[idx]]
    return out


def text_where(mask: np.ndarray, text: str, base: np.ndarray | None = None) -> np.ndarray:
    """Object array with ``text`` where ``mask``; ``base`` (or "") elsewhere."""
    out = np.full(len(mask), "", dtype=object) if base is None else base.copy()
    out[mask] = text
    return out
