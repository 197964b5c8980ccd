"""Parts of scripts/bench_lte.py: an emulated LTE link (netns, tc tbf, a TUN forwarder for
delay, jitter, loss and outages) and the reader of the sim's frame marks at the glass."""
