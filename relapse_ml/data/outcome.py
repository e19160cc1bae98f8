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
