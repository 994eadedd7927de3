"""Jobs: the record of every studio request, its state machine and its events."""
