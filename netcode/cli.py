def main(argv=None):
    raise SystemExit("netcode: no commands yet")
