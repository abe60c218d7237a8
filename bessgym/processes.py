"""Stochastic processes shared by the deployment model, the synthetic market and forecasts."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def ar1(eps: np.ndarray, phi: float, axis: int = -1) -> np.ndarray:
    """Stationary AR(1) paths ``y[k] = phi y[k-1] + sqrt(1 - phi^2) eps[k]``, ``y[0] = eps[0]``.

    ``eps`` are i.i.d. innovations of the stationary standard deviation wanted (scale them
    before the call); the recursion runs along ``axis``.
    """
    innovation = np.array(eps, dtype=float, copy=True)
    tail = [slice(None)] * innovation.ndim
    tail[axis] = slice(1, None)
    innovation[tuple(tail)] *= np.sqrt(1.0 - phi * phi)
    return lfilter([1.0], [1.0, -phi], innovation, axis=axis)
