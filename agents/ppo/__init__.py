"""PPO agents for bessgym: training (``python -m agents.ppo.train``; the neighbourhood market's
shared policy: ``python -m agents.ppo.neighborhood``) and leaderboard adapters."""
