"""The pull-request report: champion (base ref) vs challenger (working tree) on the same test rows.

``run`` orchestrates; ``champion`` gets the base model; ``bootstrap`` computes the confidence
intervals; ``changes`` says what differs; ``policy`` picks the gate that applies (the base's)
and ``gate`` decides; ``markdown`` renders (``curves`` its curves section); ``schema`` types
report.json; ``github`` resolves the PR to comment on.
Only ``github`` is imported by the commenting workflow.
"""
