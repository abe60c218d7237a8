"""A neighbourhood market (issue 20): households with PV, a battery, an EV and a thermostat that
trade local solar with each other in a double auction instead of selling it to the utility.

Modules: ``data`` (the shipped homes' load and PV), ``tariff`` (the utility's import and export
prices), ``household`` (the homes' devices, an hour at a time), ``auction`` (the clearing
mechanisms, pure and vectorised), ``neighborhood`` (an hour of the neighbourhood: orders,
clearing, bills, terminal value) and ``env`` (Neighborhood-v0, a PettingZoo ParallelEnv, and its
central single-agent wrapper; needs the ``community`` extra: ``pip install 'bessgym[community]'``).
"""
