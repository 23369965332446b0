"""Pure decisions: promotion, monitoring and shadow verdicts. The side effects live in steps/ and ops/."""
