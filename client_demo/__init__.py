"""The pygame demo client (`python -m client_demo`): prediction, reconciliation and interpolation under injected
latency against a state-sync server; frame sync with input delay and desync status against a lockstep one."""
import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
