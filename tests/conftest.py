"""Tests run offline: W&B disabled unless a test says otherwise."""

import os

os.environ.setdefault("WANDB_MODE", "disabled")
