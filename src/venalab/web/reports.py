"""The report of a stored exam version, shared by the API and the pages (audited).

Three steps, so that no transaction is open while the report renders (a PDF takes up to
seconds of CPU): read the version (one short transaction), render in the CPU pool, record the
view in the audit log (one short write transaction, committed before the report is sent).
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from venalab.engine import assess
from venalab.exam import parse_exam_obj
from venalab.report.lab import LabInfo
from venalab.report.render import Audience, render_report
from venalab.report.render import Format as ReportFormat
from venalab.report.view import SignOff
from venalab.store import audit, exams, models
from venalab.store.users import signature_name
from venalab.web.critical import communications_of, prior_document_of
from venalab.web.deps import write_unit
from venalab.web.offload import run_cpu, run_heavy


def signer_of(s: Session, user_id: int | None) -> str | None:
    """The signer as printed for a version signed before names were frozen at signing."""
    user = s.get(models.User, user_id) if user_id is not None else None
    return signature_name(user) if user is not None else None


def signoff_of(s: Session, v: models.ExamVersion) -> SignOff:
    """Sign-off state of version `v` (amended once it or an earlier version carried an
    amendment reason)."""
    status: Literal["draft", "signed", "amended"] = "draft"
    if v.status == "signed":
        status = "amended" if exams.is_amended(s, v.exam_id, up_to=v.version) else "signed"
    return SignOff(
        status=status,
        signer=v.signer_name or signer_of(s, v.signed_by),
        signed_at=v.signed_at,
        version=v.version,
        amendment_reason=v.reason,
    )


def _read(
    s: Session, exam_id: int, version: int | None
) -> tuple[dict[str, Any], dict[str, Any] | None, int, str, SignOff]:
    """The version's document, the patient's prior exam (serial comparison), and the sign-off
    with its documented critical-result communications."""
    v = exams.get_version(s, exam_id, version)
    prior = prior_document_of(s, parse_exam_obj(v.document), exam_id)
    signoff = signoff_of(s, v).model_copy(
        update={"communications": communications_of(s, exam_id, v.version)}
    )
    found = v.document, prior, v.version, v.doc_hash, signoff
    s.commit()  # the read ends here
    return found


def _render(
    document: dict[str, Any],
    prior_document: dict[str, Any] | None,
    audience: Audience,
    fmt: ReportFormat,
    signoff: SignOff,
    lab: LabInfo,
) -> bytes:
    doc = parse_exam_obj(document)
    prior = parse_exam_obj(prior_document) if prior_document is not None else None
    return render_report(doc, assess(doc, prior=prior), audience, fmt, signoff=signoff, lab=lab)


async def render_exam_report(
    s: Session,
    exam_id: int,
    version: int | None,
    audience: Audience,
    fmt: ReportFormat,
    principal_user: models.User,
    client: str,
    lab: LabInfo | None = None,
) -> tuple[bytes, str]:
    """(bytes, media type) of the report of `version` (default: current), recorded in the audit."""
    document, prior, number, doc_hash, signoff = await run_in_threadpool(_read, s, exam_id, version)
    # A PDF takes from a fraction of a second to seconds of CPU: a worker process.
    run = run_heavy if fmt == "pdf" else run_cpu
    data = await run(_render, document, prior, audience, fmt, signoff, lab or LabInfo())
    await write_unit(
        s,
        audit.record,
        s,
        audit.ACTION_VIEW_REPORT,
        user=principal_user,
        entity="exam",
        entity_id=exam_id,
        version=number,
        doc_hash=doc_hash,
        detail={"audience": audience, "format": fmt},
        client=client,
    )
    return data, ("application/pdf" if fmt == "pdf" else "text/html; charset=utf-8")
