"""Learned policies for bessgym (PPO, optimization proxies): coming in the agents issues."""
