"""One module per task: each takes the run context and its upstream records and returns its record."""
