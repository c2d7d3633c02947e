"""Knowledge base and cited Q&A (issue 8): entries, review workflow, retrieval, `ask`.

Public API (what the CLI and the web page call):

    from venalab.knowledge import ask, Answer
    answer = ask("Is 600 ms of reflux in the great saphenous vein abnormal?", "clinician")
    answer.model_dump(mode="json")      # the fields a page renders

    from venalab.knowledge import EntryStore
    EntryStore(directory).apply("cvi-patient", "approve", by="Dr A. Reviewer")

Patients see approved entries only; clinicians see every clinician entry, each answer
labelled with its review status. Nothing shipped is approved: a clinician must review and
approve entries (`venalab knowledge review/approve`) before patients get answers.
"""

from venalab.knowledge.answer import Answer, Reference, SourceEntry, ask
from venalab.knowledge.entries import (
    ENTRIES_DIR,
    KnowledgeBase,
    load_directory,
    load_knowledge_base,
)
from venalab.knowledge.model import Entry, Review, ReviewEvent
from venalab.knowledge.workflow import (
    EntryStore,
    WorkflowError,
    allowed_actions,
    apply_step,
    transition,
)

__all__ = [
    "ENTRIES_DIR",
    "Answer",
    "Entry",
    "EntryStore",
    "KnowledgeBase",
    "Reference",
    "Review",
    "ReviewEvent",
    "SourceEntry",
    "WorkflowError",
    "allowed_actions",
    "apply_step",
    "ask",
    "load_directory",
    "load_knowledge_base",
    "transition",
]
