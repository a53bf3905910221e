"""What every Tuneloop job endpoint shares: submit, get, list, cancel, events."""
