"""``python -m simulators``: start every provider SIMULATOR on loopback and print their config."""

from simulators.server import main

main()
