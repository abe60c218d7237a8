"""A neighbourhood market (issue 20): households with PV, a battery, an EV and a thermostat that
trade local solar with each other in a double auction instead of selling it to the utility.

Modules: ``auction`` (the clearing mechanisms, pure and vectorised), ``data`` (the shipped homes'
load and PV), ``tariff`` (the utility's import and export prices). The PettingZoo environment
needs the ``community`` extra (``pip install 'bessgym[community]'``).
"""
