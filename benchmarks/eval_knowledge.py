"""Quality of `venalab ask` on the question sets in the repository.

    .venv/bin/python benchmarks/eval_knowledge.py [--retriever bm25|hybrid] [--failures] [--json]

Two measurements:
1. Answers (issue 19): the share of in-scope questions answered with the expected facts and a
   citation (urgent ones starting with the emergency advice) and of out-of-scope questions
   declined, on eval/tuning.toml (used while developing) and eval/heldout.toml (written
   before the entries were read, never tuned on), reported apart, on the shipped entries
   under the default review policy.
2. Retrieval on eval/questions.toml (the issue-8 set):

Prints top-1 and top-3 retrieval accuracy of in-scope questions (overall and per audience),
the share wrongly declined, the share of out-of-scope questions correctly declined, and the
share of value questions answered by the engine with the expected verdict. Patient questions
are scored after a simulated in-memory review (see venalab.knowledge.evaluation): the shipped
entries are not clinically approved.
"""

from __future__ import annotations

import argparse
import json
import time

from venalab.knowledge.entries import load_knowledge_base
from venalab.knowledge.evaluation import evaluate, evaluate_facts, load_questions


def main() -> None:
    parser = argparse.ArgumentParser(description="evaluate knowledge-base retrieval")
    parser.add_argument("--retriever", choices=["bm25", "hybrid"], default="bm25")
    parser.add_argument("--failures", action="store_true", help="list the questions missed")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    args = parser.parse_args()
    kb = load_knowledge_base()
    if not args.json:
        for name in ("tuning", "heldout"):
            start = time.perf_counter()
            facts = evaluate_facts(kb, name, retriever=args.retriever)  # type: ignore[arg-type]
            seconds = time.perf_counter() - start
            ok_in, n_in = facts.counts("in")
            ok_out, n_out = facts.counts("out")
            by_aud = ", ".join(
                f"{aud} {facts.counts('in', aud)[0]}/{facts.counts('in', aud)[1]}"
                for aud in ("patient", "clinician")
            )
            print(
                f"{name:8} answers: in-scope with facts and citation {ok_in}/{n_in} "
                f"({ok_in / n_in:.1%}; {by_aud}); out-of-scope declined {ok_out}/{n_out}; "
                f"{seconds:.2f} s"
            )
            if args.failures:
                for r in facts.failures():
                    q = r.question
                    print(
                        f"  MISS {q.id} [{q.audience}/{q.scope}] {q.question[:70]!r} -> "
                        f"{r.kind} {r.entry} missing={[list(m) for m in r.missing]} "
                        f"cited={r.cited} urgent_first={r.urgent_first}"
                    )
        print()
    questions = load_questions()
    start = time.perf_counter()
    report = evaluate(kb, questions, retriever=args.retriever)
    seconds = time.perf_counter() - start
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
        return
    print(
        f"question set: {len(questions)} questions; retriever {report.retriever}; "
        f"simulated review: {report.simulated_review}; {seconds:.2f} s"
    )
    print(f"{'in-scope':22} {'n':>4} {'top-1':>7} {'top-3':>7} {'answered':>9} {'declined':>9}")
    rows = [("all", report.in_scope), *sorted(report.by_audience.items())]
    for name, r in rows:
        print(
            f"{name:22} {r.n:>4} {r.top1:>7.1%} {r.top3:>7.1%} {r.answered_top1:>9.1%} "
            f"{r.false_decline:>9.1%}"
        )
    print(f"out-of-scope declined: {report.out_of_scope_declined:.1%} of {report.out_of_scope_n}")
    print(
        f"value questions answered by the engine as expected: {report.measurement_ok:.1%} "
        f"of {report.measurement_n}"
    )
    if args.failures:
        for r in report.failures():
            q = r.question
            print(
                f"  MISS [{q.audience}/{q.kind}] {q.text!r} -> {list(r.top)} "
                f"declined={r.declined} expect={list(q.expect) or q.verdict}"
            )


if __name__ == "__main__":
    main()
