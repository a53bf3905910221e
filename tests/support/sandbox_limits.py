"""What the evaluator's Python-grader sandbox says when a grader runs too long."""

# Whichever limit stops a looping grader first: its CPU time, or its wall clock on a box so
# loaded that the loop gets too little of a core (test_python_sandbox.py tests each alone).
STOPPED_BY_A_LIMIT = r"more than \d+ s of CPU time|more than \d+ s \(wall clock\)"
