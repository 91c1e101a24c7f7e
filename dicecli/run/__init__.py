"""Running a scoring job: the evaluation loop, worker processes, signals, the journal and clusters."""
