"""Interoperability: the exam document and its result in other standards' shapes.

- FHIR R4 (fhir_export, fhir_import, fhir_codes; commands in cli/fhir.py): a Bundle of Patient,
  DiagnosticReport, Observations and Conditions, and back (shared/reference/interop.md
  sections 2 and 10).
- DICOM SR (sr_export, sr_import, sr_codes; commands in cli/sr.py): TID 5100 vascular
  ultrasound reports.

Nothing here decides anything clinical: the export carries what venalab.engine.assess
concluded, and an import only rebuilds the exam document the engine then reads.
"""
