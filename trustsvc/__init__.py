"""trustsvc: the domain layer — licences, seals, codes, trust between regions (federation/),
pure formats (formats/), status, audit, storage and configuration — and the entry points
(cli/). Only the entry points reach up to ``api``; the rest imports ``ca`` and ``hsm``, never
Flask (docs/architecture.md)."""

__version__ = "0.1.0"
