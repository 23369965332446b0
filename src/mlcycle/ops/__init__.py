"""Operations on versions people run by hand or from the UI: rollback, approve, history, status, lineage."""
