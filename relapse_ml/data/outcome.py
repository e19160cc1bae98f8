"""The one outcome rule every module uses (data contract, "Outcome derivation").

Relapse: the first ``relapse`` event. Non-relapse mortality: a ``death`` with no
earlier or same-day relapse — a competing event, never a censoring. Censored:
neither, observed until the latest of ``last_followup``, any event and any
measurement day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.data.contract import CENSORED, NRM, RELAPSE
from relapse_ml.errors import RelapseMLError


def derive_outcome(
    patients: pd.DataFrame, measurements: pd.DataFrame, events: pd.DataFrame
) -> pd.DataFrame:
    """Return a frame indexed by ``patient_id`` with ``time`` (days) and ``event`` (0/1/2).

    Patients without any outcome event get the latest observed day and event 0;
    validation is where a missing outcome is refused.
    """
    ids = pd.Index(patients["patient_id"].astype(str), name="patient_id")
    ev = events[["patient_id", "day", "event"]]
    relapse_day = ev.loc[ev["event"] == "relapse"].groupby("patient_id")["day"].min()
    death_day = ev.loc[ev["event"] == "death"].groupby("patient_id")["day"].min()
    last_event = ev.groupby("patient_id")["day"].max()
    last_meas = measurements.groupby("patient_id")["day"].max()

    r = relapse_day.reindex(ids).to_numpy(dtype=float)
    d = death_day.reindex(ids).to_numpy(dtype=float)
    last = np.fmax(
        last_event.reindex(ids).to_numpy(dtype=float),
        last_meas.reindex(ids).to_numpy(dtype=float),
    )
    last = np.where(np.isnan(last), 0.0, last)

    has_r = ~np.isnan(r)
    has_d = ~np.isnan(d)
    is_relapse = has_r & (~has_d | (r <= d))
    is_nrm = has_d & ~is_relapse
    time = np.where(is_relapse, r, np.where(is_nrm, d, last))
    event = np.where(is_relapse, RELAPSE, np.where(is_nrm, NRM, CENSORED)).astype(int)
    return pd.DataFrame({"time": time.astype(float), "event": event}, index=ids)


def check_outcome(
    time,
    event,
    *,
    name: str = "",
    n_samples: int | None = None,
    error: type[RelapseMLError] = RelapseMLError,
) -> tuple[np.ndarray, np.ndarray]:
    """The one validator of outcome arrays: ``(time, event)`` as float / int arrays.

    name: suffix naming the arrays in messages ("test" -> ``time_test``, ``event_test``).
    n_samples: the number of feature rows the outcome must match, when there are any.
    error: the `RelapseMLError` subclass to raise (models raise `ModelError`).
    """
    tn, en = (f"time_{name}", f"event_{name}") if name else ("time", "event")
    t = np.asarray(time, dtype=float).ravel()
    e_raw = np.asarray(event).ravel()
    if t.shape != e_raw.shape:
        raise error(f"{tn} has {t.size} values but {en} has {e_raw.size}; give one per patient.")
    if n_samples is not None and t.size != n_samples:
        raise error(f"X has {n_samples} rows but {tn}/{en} have {t.size}; give one per row.")
    if t.size == 0:
        raise error(f"{tn}/{en} are empty: no patients.")
    bad = ~np.isfinite(t) | (t <= 0)
    if bad.any():
        raise error(
            f"{tn} must be finite and > 0 days; bad value {t[bad][0]!r} "
            f"({int(bad.sum())} such rows)."
        )
    try:
        e = e_raw.astype(float)
    except (TypeError, ValueError) as err:
        raise error(f"{en} must hold the codes 0 (censored), 1 (relapse), 2 (NRM).") from err
    bad = ~np.isin(e, (0.0, 1.0, 2.0))
    if bad.any():
        raise error(
            f"{en} must be 0 (censored), 1 (relapse) or 2 (non-relapse death); "
            f"bad value {e_raw[bad][0]!r} ({int(bad.sum())} such rows)."
        )
    return t, e.astype(int)
