"""Presentation of results: the venous map (SVG) and, later, the clinician report (HTML/PDF).

Nothing here judges anything clinical: every status drawn or printed is read from the
result document (`venalab.result.Result`) that `venalab.engine.assess` produced.
"""
