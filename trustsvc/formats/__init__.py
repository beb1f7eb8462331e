"""Pure document formats and their verifiers: seals (GB/T 38540, GM/T 0031), OFD signatures,
canonical JSON, unified social credit codes, the verification report and the trust context a
verifier is given.

Nothing here touches storage (``lint-imports`` checks it, transitively): each function takes
bytes and a :class:`~trustsvc.formats.trust.TrustContext` and returns a result, so the same code
verifies on a server, in the CLI and offline.
"""
