"""Pictures and text of an episode for the envs' ``render()`` (numpy only: no display, no matplotlib).

``episode_rgb`` draws what a person watching a leader wants to see at a glance: on top, the weight the
mechanism applied to each type on each day played (one row per type, darker = more weight, white =
none; equal weights are a flat mid-tone); below, the paid Rank IC of each decision day as a bar
(green above the zero line, red below, +-``ic_scale`` fills the panel). Days not played yet are grey.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

GREY = np.array([235, 235, 235], np.uint8)


def episode_rgb(applied: npt.ArrayLike, paid_ic: npt.ArrayLike, n_steps: int, *, height: int = 240,
                width: int = 480, ic_scale: float = 0.3) -> npt.NDArray[np.uint8]:
    """An ``(height, width, 3)`` uint8 picture: ``applied`` is ``(T, K)`` applied weights of the days
    played so far, ``paid_ic`` ``(T,)`` their paid Rank IC (NaN: not paid yet), ``n_steps`` the
    episode's length (the x axis)."""
    w = np.asarray(applied, dtype=np.float64)
    ic = np.asarray(paid_ic, dtype=np.float64)
    if w.ndim != 2 or ic.shape != (w.shape[0],):
        raise ValueError(f"applied must be (T, K) and paid_ic (T,), got {w.shape} and {ic.shape}")
    T, K = w.shape
    img = np.empty((height, width, 3), np.uint8)
    img[:] = GREY
    top = int(height * 0.62)
    sep = 4
    col_day = np.minimum((np.arange(width) * max(n_steps, 1)) // width, max(n_steps, 1) - 1)  # day of each column
    played = col_day < T
    if K and T:
        row_type = np.minimum((np.arange(top) * K) // top, K - 1)
        shade = np.clip(w / max(float(w.max()), 1e-12), 0.0, 1.0)  # 1 = the largest weight of the episode
        s = shade[np.minimum(col_day, T - 1)][:, row_type].T  # (top, width)
        blue = np.stack([255 * (1 - 0.85 * s), 255 * (1 - 0.55 * s), 255 - 40 * s], axis=-1).astype(np.uint8)
        img[:top][:, played] = blue[:, played]
        img[np.arange(1, K) * top // K, :] = 200  # thin lines between types
    img[top:top + sep] = 120
    lo, hi = top + sep, height
    mid = (lo + hi) // 2
    if T:
        v = np.clip(np.nan_to_num(ic[np.minimum(col_day, T - 1)]) / ic_scale, -1.0, 1.0)
        v[~played] = 0.0
        y = np.arange(lo, hi)[:, None]
        reach = mid - v[None, :] * (hi - lo) / 2  # bar end in pixel rows
        up = (y >= reach) & (y < mid) & (v[None, :] > 0)
        down = (y > mid) & (y <= reach) & (v[None, :] < 0)
        panel = img[lo:hi]
        panel[up] = (40, 160, 60)
        panel[down] = (200, 50, 50)
    img[mid] = 90
    return img


def episode_text(date: str, applied: npt.ArrayLike, alpha: float, paid: list[tuple[int, float]]) -> str:
    """One line: the day, the applied weights and alpha, and the Rank IC paid at this step."""
    w = " ".join(f"{x:.2f}" for x in np.asarray(applied, dtype=np.float64))
    pay = ", ".join(f"day {d}: RankIC {r:+.3f}" for d, r in paid) or "nothing paid"
    return f"[{date}] applied d=[{w}] alpha={alpha:.2f}; {pay}"
