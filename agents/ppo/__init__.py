"""PPO agents for bessgym: training (``python -m agents.ppo.train``) and leaderboard adapters."""
