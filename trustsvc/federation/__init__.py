"""Federation: trust between regions (docs/architecture.md, "Trust between regions").

A region publishes a signed trust list of its CAs, seal makers, code signers and grants; peers
are imported by a pinned root fingerprint and refreshed; the snapshot joins the region's own
namespace and every peer's into the one view a verifier judges with. Builds on
:mod:`trustsvc.formats` and storage; nothing here is an entry point.
"""
