"""The physician's conclusion (issue 17): the engine proposes the impression
(impression.proposal_text); the physician edits it and may add free text before signing.

The conclusion is stored in the exam document (`ExamDocument.conclusion`), so the version
that is signed, its hash, the history and its diff carry it, and every outgoing report reads
it through interop.findings.report_conclusion. The proposal it was written from is kept
beside it, so a reader sees what the physician changed and a conclusion the measurements
have since moved away from is flagged (`is_stale`).
"""

from __future__ import annotations

from pydantic import ValidationError

from venalab.errors import InvalidInput, Problem, problems_from_validation
from venalab.exam import Conclusion, ExamDocument
from venalab.impression import proposal_text
from venalab.result import Result


def with_conclusion(
    doc: ExamDocument, result: Result, text: str | None, comment: str | None = None
) -> ExamDocument:
    """`doc` with the physician's conclusion `text` (and `comment`), recording the engine's
    current proposal beside it. An empty text removes the conclusion: the report then prints
    the proposal, marked as such. Bad text raises InvalidInput naming `conclusion.text` or
    `conclusion.comment`."""
    text = (text or "").replace("\r\n", "\n").strip()
    comment = (comment or "").replace("\r\n", "\n").strip() or None
    if not text:
        if comment:
            text = proposal_text(result)  # free text added to the proposal as it stands
        else:
            return doc.model_copy(update={"conclusion": None})
    try:
        conclusion = Conclusion.model_validate(
            {"text": text, "comment": comment, "proposal": proposal_text(result) or None}
        )
    except ValidationError as err:
        raise InvalidInput(
            [Problem(f"conclusion.{p.path}", p.message) for p in problems_from_validation(err)],
            what="conclusion",
        ) from None
    return doc.model_copy(update={"conclusion": conclusion})


def is_stale(doc: ExamDocument, result: Result) -> bool:
    """Whether the stored conclusion was written from a proposal other than the engine's
    current one (the measurements or the rules changed since)."""
    c = doc.conclusion
    return c is not None and c.proposal is not None and c.proposal != proposal_text(result)
