"""Retrieval quality of `venalab ask` on the question set in the repository.

    .venv/bin/python benchmarks/eval_knowledge.py [--retriever bm25|hybrid] [--failures] [--json]

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
from venalab.knowledge.evaluation import evaluate, load_questions


def main() -> None:
    parser = argparse.ArgumentParser(description="evaluate knowledge-base retrieval")
    parser.add_argument("--retriever", choices=["bm25", "hybrid"], default="bm25")
    parser.add_argument("--failures", action="store_true", help="list the questions missed")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    args = parser.parse_args()
    questions = load_questions()
    start = time.perf_counter()
    report = evaluate(load_knowledge_base(), questions, retriever=args.retriever)
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
