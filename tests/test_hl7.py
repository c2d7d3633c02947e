"""HL7 v2 (issue 20): orders in over real MLLP sockets on loopback and from files, ACKs for
malformed input, ORU^R01 of signed exams validated with hl7apy, results queued while the
receiving host is down and delivered when it is back."""

from __future__ import annotations

import base64
import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from helpers import load_example
from venalab.cli import app
from venalab.engine import assess
from venalab.exam import parse_exam_obj
from venalab.interop import hl7, mllp
from venalab.interop.findings import report_conclusion
from venalab.interop.hl7_service import (
    ResultsConfig,
    handle_order_text,
    produce_results,
    reject,
    send_results,
    serve_orders,
)
from venalab.store import create_exam, create_user, make_engine, session_factory, sign, upgrade
from venalab.store import interop as si
from venalab.store.db import transaction


def _seg(name: str, fields: dict[int, str]) -> str:
    """A segment with `fields` at their numbers (1-based), the rest empty."""
    values = [""] * max(fields)
    for number, value in fields.items():
        values[number - 1] = value
    return "|".join([name, *values])


ORM = "\r".join(
    [
        "MSH|^~\\&|EHR|HOSP|VENALAB|LAB|20261203101500||ORM^O01|MSG0001|P|2.5",
        "PID|1||JVB-2022-001^^^HOSP^MR||Example^Jan||19510203|M",
        "PV1|1|O||||||1234^Smith^John",
        "ORC|NW|PO-1|||SC||^^^20261204",
        _seg(
            "OBR",
            {
                1: "1",
                2: "PO-1",
                4: "93970^Duplex scan lower extremity veins^C4",
                13: "Leg swelling, rule out DVT",
                18: "ACC-1001",
            },
        ),
    ]
)
OMG = "\r".join(
    [
        "MSH|^~\\&|EHR|HOSP|VENALAB|LAB|20261203101500||OMG^O19^OMG_O19|MSG0002|P|2.5",
        "PID|1||PAT-77^^^HOSP^MR||Roe^Ann||19700101|F",
        "ORC|NW|PO-2|ACC-2002||SC",
        "TQ1|1||||||20261205",
        _seg(
            "OBR",
            {
                1: "1",
                2: "PO-2",
                3: "ACC-2002",
                4: "^Venous duplex right leg",
                16: "4321^Brown^Bea",
                31: "^Varicose veins, planning ablation",
            },
        ),
    ]
)


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def _orders(factory: sessionmaker[Session]) -> list[si.ScheduledOrder]:
    with transaction(factory) as s:
        return si.list_orders(s, None)


# --- parsing ----------------------------------------------------------------------------


def test_orm_and_omg_are_read() -> None:
    orm = hl7.parse_order(ORM).order
    assert (orm.accession, orm.patient_local_id, orm.patient_name, orm.sex) == (
        "ACC-1001",
        "JVB-2022-001",
        "Jan Example",
        "male",
    )
    assert orm.birth_date == dt.date(1951, 2, 3) and orm.scheduled_date == dt.date(2026, 12, 4)
    assert orm.indication == "Leg swelling, rule out DVT"
    assert orm.referring_physician == "John Smith (1234)"
    omg = hl7.parse_order(OMG)
    assert omg.message_type == "OMG_O19"
    assert (omg.order.accession, omg.order.scheduled_date) == ("ACC-2002", dt.date(2026, 12, 5))
    assert omg.order.indication == "Varicose veins, planning ablation"
    assert omg.order.referring_physician == "Bea Brown (4321)"
    assert omg.order.procedure == "Venous duplex right leg"


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("", "AR", "not an HL7 v2 message"),
        ("hello world", "AR", "not an HL7 v2 message"),
        (ORM.replace("ORM^O01", "ADT^A01"), "AR", "not an order"),
        (ORM.replace("JVB-2022-001^^^HOSP^MR", ""), "AE", "PID-3"),
        (ORM.replace("|19510203|", "|1951-02-03|"), "AE", "PID-7"),
        (ORM.replace("ACC-1001", "").replace("PO-1", ""), "AE", "accession"),
        (ORM.replace("ORC|NW", "ORC|ZZ"), "AE", "order control"),
        ("\r".join(ORM.split("\r")[:2]), "AE", "no ORC"),
        # control characters (NUL cannot be stored on PostgreSQL) and invisible ones
        (ORM.replace("JVB-2022-001", "JVB\x00001"), "AE", "PID-3"),
        (ORM.replace("JVB-2022-001", "JVB\u200b001"), "AE", "PID-3"),
        (ORM.replace("Leg swelling", "Leg\x07swelling"), "AE", "OBR-"),
    ],
)
def test_malformed_orders_get_an_error_ack(
    factory: sessionmaker[Session], text: str, code: str, words: str
) -> None:
    answer = handle_order_text(text, factory)
    assert hl7.ack_code(answer) == code
    assert words in answer
    assert "ERR|" in answer
    assert _orders(factory) == []


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gets_an_ack_never_an_exception(text: str) -> None:
    for message in (text, "MSH|^~\\&|" + text, ORM[: len(text)] + text):
        try:
            hl7.parse_order(message)
        except hl7.OrderError as err:
            assert err.code in ("AE", "AR")
        answer = hl7.ack(message, "AR", text[:50])
        assert hl7.ack_code(answer) == "AR" and answer.startswith("MSH|^~\\&|")


def test_cancel_and_update(factory: sessionmaker[Session]) -> None:
    assert hl7.ack_code(handle_order_text(ORM, factory)) == "AA"
    assert (
        hl7.ack_code(handle_order_text(ORM.replace("Leg swelling", "Calf pain"), factory)) == "AA"
    )
    (order,) = _orders(factory)
    assert order.indication.startswith("Calf pain") and order.status == "scheduled"
    assert hl7.ack_code(handle_order_text(ORM.replace("ORC|NW", "ORC|CA"), factory)) == "AA"
    assert _orders(factory)[0].status == "cancelled"


# --- MLLP on loopback ------------------------------------------------------------------


def test_orders_over_mllp(factory: sessionmaker[Session]) -> None:
    server = serve_orders("127.0.0.1", 0, factory)
    port = server.server_address[1]
    try:
        assert hl7.ack_code(mllp.send("127.0.0.1", port, ORM)) == "AA"
        # One connection: garbage outside frames, a bad message, then a good one.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"noise" + mllp.frame("not hl7") + mllp.frame(OMG))
            buf = b""
            while buf.count(mllp.END) < 2:
                buf += sock.recv(65536)
        acks = [mllp.decode(f.strip(b"\x0b")) for f in buf.split(mllp.END) if f]
        assert [hl7.ack_code(a) for a in acks] == ["AR", "AA"]
        assert "MSA|AA|MSG0002" in acks[1]
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(o.accession for o in _orders(factory)) == ["ACC-1001", "ACC-2002"]


def test_orders_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    good, bad = tmp_path / "a.hl7", tmp_path / "b.hl7"
    good.write_text(ORM.replace("\r", "\n"))
    bad.write_text("garbage")
    res = CliRunner().invoke(app, ["hl7", "import-orders", str(good), str(bad)])
    assert res.exit_code == 2, res.output
    assert f"{good}: AA" in res.output and f"{bad}: AR" in res.output


# --- results ----------------------------------------------------------------------------


def _signed_exam(factory: sessionmaker[Session], with_order: bool) -> int:
    with transaction(factory) as s:
        user, _ = create_user(s, "doc", "physician", "Jane Doe", password="correct horse battery")
        version = create_exam(s, parse_exam_obj(load_example("calf-dvt.json")), user)
        if with_order:
            order = si.receive_order(
                s,
                si.OrderIn("ACC-9", "DVT-0007", patient_name="Pat Example"),
                source="t",
                message_id="M9",
            )
            si.link_order(s, order.id, version.exam_id, user)
        sign(s, version.exam_id, user, 1)
        return version.exam_id


def test_oru_of_a_signed_exam(tmp_path: Path, factory: sessionmaker[Session]) -> None:
    exam_id = _signed_exam(factory, with_order=True)
    config = ResultsConfig(tmp_path / "outbox", pdf=True)
    (path,) = produce_results(factory, config)
    assert produce_results(factory, config) == []  # once per signed version
    text = path.read_bytes().decode("utf-8")
    hl7.validate(text)  # hl7apy, strict
    segs = [line.split("|") for line in text.split("\r") if line]
    assert segs[0][8] == "ORU^R01^ORU_R01" and segs[1][5] == "Pat Example"
    obr = next(s for s in segs if s[0] == "OBR")
    assert obr[3] == "ACC-9" and obr[25] == "F" and obr[32] == "&Jane Doe"
    obx = [s for s in segs if s[0] == "OBX"]
    conclusion = [hl7.unescape(line) for line in obx[0][5].split("~")]
    exam = parse_exam_obj(load_example("calf-dvt.json"))
    expected = report_conclusion(exam, assess(exam)).splitlines()
    assert conclusion[:2] == expected[:2] == ["Right leg:", expected[1]]  # a line per line
    assert " ".join(conclusion).split() == " ".join(expected).split()
    codes = {s[3].split("^")[0] for s in obx}
    assert {"121071", "363698007", "272741003"} <= codes  # finding, site, laterality
    assert any("404223003^Deep venous thrombosis of lower extremity^SCT" in s[5] for s in obx)
    pdf = next(s for s in obx if s[2] == "ED")
    assert base64.b64decode(pdf[5].split("^")[4]).startswith(b"%PDF")
    with transaction(factory) as s:
        assert si.order_for_exam(s, exam_id).status == "completed"  # type: ignore[union-attr]


def test_results_wait_for_a_down_host_and_are_sent_later(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    _signed_exam(factory, with_order=False)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ResultsConfig(tmp_path / "outbox", send_to=("127.0.0.1", port), pdf=False)
    produce_results(factory, config)
    assert send_results(factory, config) == 0
    with transaction(factory) as s:
        (row,) = si.unsent_results(s)
        assert row.attempts == 1 and "Connection" in (row.last_error or "")
    received: list[str] = []

    def receiver(text: str) -> str:
        received.append(text)
        return hl7.ack(text, "AA")

    server = mllp.serve(("127.0.0.1", port), receiver, reject)
    try:
        assert send_results(factory, config) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 1 and received[0].startswith("MSH|")
    with transaction(factory) as s:
        assert si.unsent_results(s) == []
