"""Optimization proxies: learned DA bidders that imitate ForecastLP's day LP.

* :mod:`agents.proxy.problem`: the DA problem as data (parameter vectors, torch objective,
  residuals, SoC completion, dual bound);
* :mod:`agents.proxy.repair`: layers that make any output a feasible bid;
* :mod:`agents.proxy.decode`: exact decoding of a SoC trajectory into the best bid following it;
* :mod:`agents.proxy.dataset`: solver-labelled instances (``python -m agents.proxy.dataset``);
* :mod:`agents.proxy.models`, :mod:`agents.proxy.train`: networks and their training
  (``python -m agents.proxy.train``);
* :mod:`agents.proxy.bidder`: checkpoints and :class:`TorchProxyBidder`, the leaderboard entry.
"""
