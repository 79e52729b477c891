"""Truth and report: what every agent believed (its *view*) and what it emitted (its *report*), per day.

Why: every incentive question compares the two (a rule is truthful when reporting the view is a best
response), so the game records both, per agent, stock and day, and every incentive metric can be computed
from a run. A view is what the follower would report if it were paid for accuracy; a follower that reports
something else says so by exposing its views (``Follower.last_views``, see ``mass_env.roles``). Today's
followers report their view: the log then stores one array per day and ``views`` is ``reports``.

Storage is compact: float32 arrays (agents, stocks) per day, a view equal to its report stored once, and
``to_frame`` / ``from_frame`` a long table of numbers (day, agent, stock, view, report: only the cells an
agent looked at) that stores as parquet beside a run's history.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import MassError

FloatArray = npt.NDArray[np.float64]
FRAME_COLUMNS = ("day", "agent", "stock", "view", "report")


class ReportLog:
    """Per recorded day: the agents' reports and views, float32 (agents, stocks); NaN = did not look."""

    def __init__(self, n_agents: int, n_stocks: int) -> None:
        self.n_agents, self.n_stocks = int(n_agents), int(n_stocks)
        self._days: list[int] = []
        self._reports: list[npt.NDArray[np.float32]] = []
        self._views: list[npt.NDArray[np.float32] | None] = []  # None: the view is the report

    def __len__(self) -> int:
        return len(self._days)

    def append(self, day: int, reports: npt.ArrayLike, views: npt.ArrayLike | None = None) -> None:
        rep = np.array(reports, dtype=np.float32)  # one copy, whatever the input's type
        if rep.shape != (self.n_agents, self.n_stocks):
            raise MassError(f"reports must have shape ({self.n_agents}, {self.n_stocks}), got {rep.shape}")
        self._days.append(int(day))
        self._reports.append(rep)
        if views is None:
            self._views.append(None)
            return
        v = np.asarray(views, dtype=np.float32)
        if v.shape != rep.shape:
            raise MassError(f"views must have the reports' shape {rep.shape}, got {v.shape}")
        same = np.array_equal(v, rep, equal_nan=True)
        self._views.append(None if same else v.copy())

    @property
    def days(self) -> npt.NDArray[np.int64]:
        return np.array(self._days, dtype=np.int64)

    @property
    def truthful(self) -> bool:
        """Every recorded report equals its view."""
        return all(v is None for v in self._views)

    def reports(self) -> npt.NDArray[np.float32]:
        """(days, agents, stocks)."""
        return np.stack(self._reports) if self._reports else np.zeros((0, self.n_agents, self.n_stocks), np.float32)

    def views(self) -> npt.NDArray[np.float32]:
        """(days, agents, stocks); the report where the agent reported its view."""
        if not self._reports:
            return self.reports()
        return np.stack([r if v is None else v for r, v in zip(self._reports, self._views)])

    def views_at(self, positions: npt.ArrayLike) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Views (L, agents, stocks) of the recorded days at ``positions`` (indices into the log, in order) and
        (L,) whether each day's reports were its views (then the game's own report moments are the views')."""
        idx = [int(i) for i in np.asarray(positions, dtype=np.int64)]
        if not idx:
            return np.zeros((0, self.n_agents, self.n_stocks)), np.zeros(0, dtype=bool)
        views = np.stack([self._reports[i] if (v := self._views[i]) is None else v for i in idx])
        return views.astype(np.float64), np.array([self._views[i] is None for i in idx])

    def misreport(self) -> FloatArray:
        """Per day: mean |report - view| over the cells the agents reported (0 when truthful)."""
        out = np.zeros(len(self._days))
        for j, (r, v) in enumerate(zip(self._reports, self._views)):
            if v is not None:  # a loop over days only, and only over days with a view apart
                gap = np.abs(r.astype(np.float64) - v)
                out[j] = float(np.nanmean(gap)) if np.isfinite(gap).any() else 0.0
        return out

    def last_misreport(self, agent_type: npt.ArrayLike, n_types: int) -> FloatArray:
        """(types,): mean |report - view| of each type's agents on the last recorded day (0 if none differs)."""
        if not self._days or self._views[-1] is None:
            return np.zeros(n_types)
        gap = np.abs(self._reports[-1].astype(np.float64) - self._views[-1])
        ok = np.isfinite(gap)
        at = np.asarray(agent_type)
        num = np.bincount(at, np.where(ok, gap, 0.0).sum(1), minlength=n_types)
        den = np.bincount(at, ok.sum(1).astype(np.float64), minlength=n_types)
        return np.where(den > 0, num / np.maximum(den, 1.0), 0.0)

    def type_means(self, agent_type: npt.ArrayLike, n_types: int, which: str = "views") -> FloatArray:
        """(types, days, stocks): each type's mean over its agents that looked (NaN where none did)."""
        arr = (self.views() if which == "views" else self.reports()).astype(np.float64)
        if which not in ("views", "reports"):
            raise MassError(f"which must be 'views' or 'reports', got {which!r}")
        at = np.asarray(agent_type)
        onehot = (at[None, :] == np.arange(n_types)[:, None]).astype(np.float64)  # (K, A)
        ok = np.isfinite(arr)
        num = np.einsum("ka,das->kds", onehot, np.where(ok, arr, 0.0))
        den = np.einsum("ka,das->kds", onehot, ok.astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)

    # ------------------------------------------------------------------ storage
    def to_frame(self) -> pd.DataFrame:
        """Long table of the looked-at cells: day, agent, stock (int32), view, report (float32)."""
        rep, view = self.reports(), self.views()
        ok = np.isfinite(rep) | np.isfinite(view)
        d, a, s = np.nonzero(ok)
        return pd.DataFrame({"day": self.days[d].astype(np.int32), "agent": a.astype(np.int32),
                             "stock": s.astype(np.int32), "view": view[ok], "report": rep[ok]})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, n_agents: int, n_stocks: int) -> ReportLog:
        """The log ``to_frame`` wrote (days with no looked-at cell are not restored)."""
        missing = [c for c in FRAME_COLUMNS if c not in frame.columns]
        if missing:
            raise MassError(f"a report table needs the columns {FRAME_COLUMNS}; missing {missing}")
        log = cls(n_agents, n_stocks)
        days = np.unique(frame["day"].to_numpy())
        idx = np.searchsorted(days, frame["day"].to_numpy())
        rep = np.full((days.size, n_agents, n_stocks), np.nan, np.float32)
        view = rep.copy()
        a, s = frame["agent"].to_numpy(), frame["stock"].to_numpy()
        rep[idx, a, s] = frame["report"].to_numpy(np.float32)
        view[idx, a, s] = frame["view"].to_numpy(np.float32)
        for j, day in enumerate(days):
            log.append(int(day), rep[j], view[j])
        return log
