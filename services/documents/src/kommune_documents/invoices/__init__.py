"""Incoming e-invoices (XRechnung, UBL and CII): validation, filing, approval workflow."""
