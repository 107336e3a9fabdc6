"""Import and export of a knowledge base as CSV, XLSX or JSONL; export then import is lossless.

One row per problem, with its product and scenario; list cells (similar
questions, tags, source intents) hold one item per line (a JSON array when an
item itself spans lines). XLSX adds a
``lexicon`` sheet, JSONL adds ``{"record": "lexicon", ...}`` lines and the
knowledge base name; a CSV carries problems only, so its import keeps the
lexicon (and name) of the knowledge base it is applied to.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]
from pydantic import ValidationError

from knowledge.schema import KnowledgeBase, Lexicon, LexiconWord, WordKind

COLUMNS = [
    "product_id", "product_name", "product_description",
    "scenario_id", "scenario_name", "scenario_description",
    "problem_id", "standard_question", "similar_questions", "answer",
    "tags", "source_intents", "conditions", "status", "version",
]  # fmt: skip
_LISTS = {"similar_questions", "tags", "source_intents"}
LEXICON_COLUMNS = ["kind", "word", "synonyms", "entity_type", "product", "scenario", "ambiguous_products"]
_LEXICON_LISTS = {"synonyms", "ambiguous_products"}


class Format(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    JSONL = "jsonl"


class ImportFormatError(ValueError):
    """An import file cannot be read as a knowledge base; the message says where."""


def problem_rows(kb: KnowledgeBase) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for ref in kb.problem_refs(include_retired=True):
        product = next(p for p in kb.products if p.id == ref.product_id)
        scenario = next(s for s in product.scenarios if s.id == ref.scenario_id)
        p = ref.problem
        rows.append(
            {
                "product_id": product.id, "product_name": product.name,
                "product_description": product.description,
                "scenario_id": scenario.id, "scenario_name": scenario.name,
                "scenario_description": scenario.description,
                "problem_id": p.id, "standard_question": p.standard_question,
                "similar_questions": list(p.similar_questions), "answer": p.answer,
                "tags": list(p.tags), "source_intents": list(p.source_intents),
                "conditions": p.conditions or "", "status": p.status.value, "version": p.version,
            }
        )  # fmt: skip
    return rows


def lexicon_rows(lexicon: Lexicon) -> list[dict[str, Any]]:
    return [{"kind": kind.value, **word.model_dump(mode="json")} for kind, word in lexicon.words()]


def kb_from_rows(
    rows: Iterable[dict[str, Any]], name: str, lexicon: Lexicon | Iterable[dict[str, Any]]
) -> KnowledgeBase:
    """Rebuild the graph from problem rows (in order) and a lexicon (or its rows)."""
    products: dict[str, dict[str, Any]] = {}
    for n, row in enumerate(rows, start=1):
        try:
            product = products.setdefault(
                str(row["product_id"]),
                {"id": row["product_id"], "name": row["product_name"],
                 "description": row.get("product_description") or "", "scenarios": {}},
            )  # fmt: skip
            scenario = product["scenarios"].setdefault(
                str(row["scenario_id"]),
                {"id": row["scenario_id"], "name": row["scenario_name"],
                 "description": row.get("scenario_description") or "", "problems": []},
            )  # fmt: skip
            scenario["problems"].append(
                {
                    "id": row["problem_id"], "standard_question": row["standard_question"],
                    "similar_questions": list(row.get("similar_questions") or []),
                    "answer": row.get("answer") or "", "tags": list(row.get("tags") or []),
                    "source_intents": list(row.get("source_intents") or []),
                    "conditions": row.get("conditions") or None,
                    "status": row.get("status") or "published", "version": int(row.get("version") or 1),
                }
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ImportFormatError(f"row {n}: {exc!r}") from exc
    if not isinstance(lexicon, Lexicon):
        lexicon = lexicon_from_rows(lexicon)
    data = {
        "name": name,
        "products": [{**p, "scenarios": list(p["scenarios"].values())} for p in products.values()],
        "lexicon": lexicon,
    }
    try:
        return KnowledgeBase.model_validate(data)
    except ValidationError as exc:
        raise ImportFormatError(str(exc)) from exc


def lexicon_from_rows(rows: Iterable[dict[str, Any]]) -> Lexicon:
    groups: dict[WordKind, list[LexiconWord]] = {kind: [] for kind in WordKind}
    try:
        for row in rows:
            fields = {k: v for k, v in row.items() if k in LEXICON_COLUMNS[1:] and v not in (None, "")}
            groups[WordKind(row["kind"])].append(LexiconWord.model_validate(fields))
        return Lexicon(
            intent_words=groups[WordKind.INTENT],
            entity_words=groups[WordKind.ENTITY],
            attribute_words=groups[WordKind.ATTRIBUTE],
        )
    except (KeyError, ValueError) as exc:
        raise ImportFormatError(f"lexicon: {exc}") from exc


def _cell(value: Any) -> str:
    if isinstance(value, list):
        items = [str(v) for v in value]
        joined = "\n".join(items)
        lossy = any("\n" in i or i != i.strip() or not i for i in items) or joined.startswith("[")
        return json.dumps(items, ensure_ascii=False) if lossy else joined
    return "" if value is None else str(value)


def _uncell(column: str, value: Any, lists: set[str]) -> Any:
    text = "" if value is None else str(value)
    if column not in lists:
        return text
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            items = None
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return items
    return [line.strip() for line in text.split("\n") if line.strip()]


def export_kb(kb: KnowledgeBase, fmt: Format) -> bytes:
    if fmt is Format.JSONL:
        lines = [{"record": "kb", "name": kb.name}]
        lines += [{"record": "problem", **row} for row in problem_rows(kb)]
        lines += [{"record": "lexicon", **row} for row in lexicon_rows(kb.lexicon)]
        return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8")
    if fmt is Format.CSV:
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for row in problem_rows(kb):
            writer.writerow([_cell(row[c]) for c in COLUMNS])
        return out.getvalue().encode("utf-8")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "problems"
    _fill(sheet, COLUMNS, problem_rows(kb))
    _fill(book.create_sheet("lexicon"), LEXICON_COLUMNS, lexicon_rows(kb.lexicon))
    _fill(book.create_sheet("kb"), ["name"], [{"name": kb.name}])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _fill(sheet: Any, columns: list[str], rows: list[dict[str, Any]]) -> None:
    sheet.append(columns)
    for r, row in enumerate(rows, start=2):
        for c, column in enumerate(columns, start=1):
            cell = sheet.cell(row=r, column=c, value=_cell(row.get(column)))
            cell.data_type = "s"  # never a formula, whatever the text starts with


def import_kb(data: bytes, fmt: Format, base: KnowledgeBase) -> KnowledgeBase:
    """Parse an export; parts a format does not carry (CSV: lexicon, name) come from ``base``."""
    try:
        if fmt is Format.JSONL:
            return _import_jsonl(data.decode("utf-8"), base)
        if fmt is Format.CSV:
            reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
            rows = [{c: _uncell(c, v, _LISTS) for c, v in r.items()} for r in reader]
            return kb_from_rows(rows, base.name, base.lexicon)
        return _import_xlsx(data, base)
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"not UTF-8 text: {exc}") from exc


def _import_jsonl(text: str, base: KnowledgeBase) -> KnowledgeBase:
    name, problems, words = base.name, [], []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(f"line {n}: not JSON: {exc}") from exc
        record = item.pop("record", None) if isinstance(item, dict) else None
        if record == "kb":
            name = str(item["name"])
        elif record == "problem":
            problems.append(item)
        elif record == "lexicon":
            words.append(item)
        else:
            raise ImportFormatError(f"line {n}: record must be kb, problem or lexicon")
    return kb_from_rows(problems, name, words if words else base.lexicon)


def _import_xlsx(data: bytes, base: KnowledgeBase) -> KnowledgeBase:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a bad file
        raise ImportFormatError(f"not an XLSX workbook: {exc}") from exc
    if "problems" not in book.sheetnames:
        raise ImportFormatError("the workbook has no 'problems' sheet")
    problems = _sheet_rows(book["problems"], _LISTS)
    words = _sheet_rows(book["lexicon"], _LEXICON_LISTS) if "lexicon" in book.sheetnames else None
    names = _sheet_rows(book["kb"], set()) if "kb" in book.sheetnames else []
    name = str(names[0]["name"]) if names else base.name
    return kb_from_rows(problems, name, words if words is not None else base.lexicon)


def _sheet_rows(sheet: Any, lists: set[str]) -> list[dict[str, Any]]:
    values = list(sheet.iter_rows(values_only=True))
    if not values:
        return []
    header = [str(h) for h in values[0]]
    return [
        {c: _uncell(c, v, lists) for c, v in zip(header, row, strict=False)}
        for row in values[1:]
        if any(v not in (None, "") for v in row)
    ]
