"""Cases: debtors' cases as creditors send them (CSV), checked row by row before they load."""

from pbx_engine.cases.importer import CaseRow, ImportBatch, PhoneEntry, RowError, parse_cases

__all__ = ["CaseRow", "ImportBatch", "PhoneEntry", "RowError", "parse_cases"]
