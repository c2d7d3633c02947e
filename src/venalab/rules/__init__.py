"""Clinical rules: pure functions from exam parts (+ criteria) to results with evidence."""
