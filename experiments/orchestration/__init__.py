"""Run orchestration: experiment configs, the train/evaluate runner and parameter sweeps."""
