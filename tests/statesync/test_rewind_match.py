"""Lag compensation end to end in virtual time: bots that draw, aim and shoot like the pygame client."""
from netcode.bench.rewind import run_agreement


def test_at_200ms_rtt_rewind_confirms_what_shooters_saw_and_without_it_they_miss():
    on = run_agreement(200, rewind=True, loss=0.0, seconds=6.0, bots=4)
    off = run_agreement(200, rewind=False, loss=0.0, seconds=6.0, bots=4)
    assert on["view_hits"] > 20 and off["view_hits"] > 20
    assert on["agreement"] >= 0.97
    assert off["agreement"] < 0.6
    assert on["false_hit_rate"] <= 0.01
