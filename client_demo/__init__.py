"""The pygame demo client: prediction, reconciliation and interpolation under injected latency (`python -m client_demo`)."""
import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
