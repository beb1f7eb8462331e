"""E-licences (电子证照): GB/T 36904 identifiers, the licence-type catalogue, issuance and
lifecycle (docs/architecture.md)."""
