"""The report of a stored exam version, shared by the API and the pages (audited)."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.orm import Session

from venalab.exam import parse_exam_obj
from venalab.report.render import Audience, render_report
from venalab.report.render import Format as ReportFormat
from venalab.report.view import SignOff
from venalab.store import audit, exams, models
from venalab.web.critical import assess_stored, communications_of
from venalab.web.schemas import username_of


def signoff_of(s: Session, v: models.ExamVersion, versions: list[models.ExamVersion]) -> SignOff:
    """Sign-off state of version `v` among the exam's `versions` (amended once any earlier
    version carried an amendment reason)."""
    amended = any(x.reason for x in versions if x.version <= v.version)
    status: Literal["draft", "signed", "amended"] = (
        "draft" if v.status != "signed" else ("amended" if amended else "signed")
    )
    return SignOff(
        status=status,
        signer=username_of(s, v.signed_by),
        signed_at=v.signed_at,
        version=v.version,
        amendment_reason=v.reason,
    )


def render_exam_report(
    s: Session,
    exam_id: int,
    version: int | None,
    audience: Audience,
    fmt: ReportFormat,
    principal_user: models.User,
    client: str,
) -> tuple[bytes, str]:
    """(bytes, media type) of the report of `version` (default: current), recorded in the audit."""
    v = exams.get_version(s, exam_id, version)
    doc = parse_exam_obj(v.document)
    signoff = signoff_of(s, v, exams.list_versions(s, exam_id)).model_copy(
        update={"communications": communications_of(s, exam_id, v.version)}
    )
    data = render_report(doc, assess_stored(s, doc, exam_id), audience, fmt, signoff=signoff)
    audit.record(
        s,
        "view-report",
        user=principal_user,
        entity="exam",
        entity_id=exam_id,
        version=v.version,
        doc_hash=v.doc_hash,
        detail={"audience": audience, "format": fmt},
        client=client,
    )
    return data, ("application/pdf" if fmt == "pdf" else "text/html; charset=utf-8")
