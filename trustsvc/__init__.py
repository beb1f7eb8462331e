"""trustsvc: the domain layer — licences, seals, codes, trust lists, status, audit, storage,
configuration and the command line. Imports ``ca`` and ``hsm``, never Flask."""

__version__ = "0.1.0"
