"""Package-relative location of the shipped data (never the working directory)."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
