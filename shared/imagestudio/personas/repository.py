"""SQL for personas."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imagestudio.personas.models import Persona


class PersonaRepository:
    def get_for_tenant(self, session: Session, *, tenant_id: str, persona_id: str) -> Persona | None:
        return session.scalar(select(Persona).where(Persona.id == persona_id, Persona.tenant_id == tenant_id))

    def for_tenant(self, session: Session, *, tenant_id: str, limit: int) -> Sequence[Persona]:
        return session.scalars(
            select(Persona)
            .where(Persona.tenant_id == tenant_id)
            .order_by(Persona.created_at.desc(), Persona.id)
            .limit(limit)
        ).all()

    def count_for_tenant(self, session: Session, *, tenant_id: str) -> int:
        return int(session.scalar(select(func.count()).where(Persona.tenant_id == tenant_id)) or 0)


persona_repository = PersonaRepository()
