"""Which licence types a department may sign, as this region's trust list tells peers
(``issuers[].licence_types``). Without grants a department is listed with every type of the
region's catalogue (the demo department gets both demo types); grants narrow that down, and a
peer region FAILS a licence or code of a type its issuer is not listed for
(:mod:`trustsvc.federation.authorisation`)."""

from __future__ import annotations

from sqlalchemy import delete, select

from ..audit import AuditEvent, record
from ..context import TrustService
from ..errors import InvalidInputError, NotFoundError
from ..formats.uscc import validate_uscc
from ..licences.catalogue import catalogue_for
from ..pki import get_region
from ..storage.models import Department, LicenceTypeGrant
from .trust_lists import issuer_licence_types

__all__ = ["set_licence_types", "RESET"]

RESET = "catalogue"
"""``--types catalogue``: drop the grants; the department is listed with the whole catalogue."""


def set_licence_types(service: TrustService, uscc: str, types: list[str], *, actor: str) -> list[str]:
    """Replace the department's grants with ``types`` (or ``["catalogue"]`` to drop them);
    returns what the list will say for it.

    :raises InvalidInputError: ``unknown_licence_type`` or an empty list.
    :raises NotFoundError: ``department_not_found``.
    """
    uscc = validate_uscc(uscc)
    if not types:
        raise InvalidInputError(
            "give at least one licence type code (or 'catalogue')", code="missing_field", field="types"
        )
    with service.db.transaction() as session:
        region = get_region(session)
        dept = session.execute(select(Department).where(Department.uscc == uscc)).scalar_one_or_none()
        if dept is None:
            raise NotFoundError(f"no department {uscc}", code="department_not_found")
        known = {t.code for t in catalogue_for(region.code)}
        reset = types == [RESET]
        unknown = [] if reset else sorted(set(types) - known)
        if unknown:
            raise InvalidInputError(
                f"not in region {region.code}'s catalogue: {', '.join(unknown)}",
                code="unknown_licence_type",
                field="types",
            )
        session.execute(delete(LicenceTypeGrant).where(LicenceTypeGrant.department_id == dept.id))
        for code in [] if reset else sorted(set(types)):
            session.add(LicenceTypeGrant(department_id=dept.id, type_code=code))
        session.flush()
        listed = issuer_licence_types(session, dept, region.code)
        record(
            session,
            AuditEvent(
                actor=actor,
                action="trust.authorise",
                object_type="department",
                object_id=uscc,
                details={"licence_types": listed, "reset": reset},
            ),
        )
        return listed
