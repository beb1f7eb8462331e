"""Holder-side e-licences: one code per person and per enterprise (一人一码 / 一企一码).

* :mod:`.mso`: each licence version's Mobile Security Object (the ISO 18013-5 model with
  SM2/SM3): issuer-signed salted digests of its face fields, so a holder can later show any
  subset of them and a verifier can check each shown field without seeing the others.
* :mod:`.format`: the ``TS1:`` presentation and holder codes (new ``typ`` values of the
  service-code envelope).
* :mod:`.presentation` / :mod:`.verify`: making a presentation for the wallet back end, and
  verifying it offline (held trust material and status lists) or online (single use).
* :mod:`.consent`: holder codes, consent records and their redemption by verifiers (授权用证),
  each use recorded for the holder (用证记录).
"""
