"""Optimization proxies: learned DA bidders that imitate the LP bidders' day LPs.

* :mod:`agents.proxy.bidder_lp`: the LPs of the leaderboard's LP bidders (RobustDA, the
  chance-constrained LP, ForecastLP) as parametric LPs: fixed constraints, an objective affine in
  the forecasts, the bidder's own solve, an independent check of a bid and a certified bound;
* :mod:`agents.proxy.cache`: solution caching, the proxy of such a bidder made of its solved
  plans (``python -m agents.proxy.cache``);
* :mod:`agents.proxy.problem`: the first proxies' problem, ForecastLP's LP at the reserve
  multiple 1, as data (parameter vectors, torch objective, residuals, dual bound, the optimum
  under the rules);
* :mod:`agents.proxy.completion`: the LP vector of a bid, every column as the LP fills it;
* :mod:`agents.proxy.repair`: layers that make any output a feasible bid;
* :mod:`agents.proxy.decode`: exact decoding of the two SoC trajectories into the best bid following them;
* :mod:`agents.proxy.dataset`: solver-labelled instances, their file schema and a torch Dataset
  (``python -m agents.proxy.dataset``);
* :mod:`agents.proxy.instances`: fixed train/val/test instance files and their export as MPS and
  (c, A, bounds) arrays (``python -m agents.proxy.instances``);
* :mod:`agents.proxy.models`, :mod:`agents.proxy.train`: networks and their training
  (``python -m agents.proxy.train``);
* :mod:`agents.proxy.bidder`: checkpoints and :class:`TorchProxyBidder`, the leaderboard entry.
"""
