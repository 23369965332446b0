"""Pure code: no I/O. Features, metrics, drift maths, rules, fallback, model cards, decisions."""
