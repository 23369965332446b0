"""The monitoring DAG's steps: window, score, drift, decide and act, shadow."""
