"""Decision-focused forecasting: price forecasters trained on an LP bidder's decision regret.

* :mod:`agents.dfl.forecaster`: the features of a gate-closure context, the forecaster network,
  its checkpoints and :class:`~agents.dfl.forecaster.ForecastBidder`, the DA bidder that feeds
  its forecasts to the LP bidder (the leaderboard entry);
* :mod:`agents.dfl.train`: training on the mean squared error of the prices or on SPO+, the
  convex surrogate of the bidder's regret (``python -m agents.dfl.train``).
"""
