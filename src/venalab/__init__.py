"""venalab: lower-limb venous duplex interpretation with cited evidence.

The core (exam and result models, rules, engine) is pure: functions over frozen pydantic
models, criteria passed in. Files, databases, web, DICOM and FHIR live at the edges.
"""

__version__ = "0.1.0"
