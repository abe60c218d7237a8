"""Optimization baselines for bessgym (perfect foresight, MPC, robust, stochastic, chance-constrained): coming in the baselines issue."""
