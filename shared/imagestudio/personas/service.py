"""Personas: per-tenant CRUD, and applying one to a prompt pair with every addition explained."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from imagestudio.errors import Conflict, NotFound
from imagestudio.personas.models import Persona
from imagestudio.personas.repository import persona_repository
from imagestudio.personas.schemas import PersonaCreate, PersonaPatch, PersonaRead
from imagestudio.templates.prompting import Addition, PromptResult, add_each

__all__ = ["MAX_PERSONAS_PER_TENANT", "PersonaService", "persona_service"]

#: A tenant's personas are brand voices, not data: a small cap keeps listings unpaginated.
MAX_PERSONAS_PER_TENANT = 100


class PersonaService:
    def create(self, session: Session, *, tenant_id: str, body: PersonaCreate) -> Persona:
        if persona_repository.count_for_tenant(session, tenant_id=tenant_id) >= MAX_PERSONAS_PER_TENANT:
            raise Conflict(f"A tenant keeps at most {MAX_PERSONAS_PER_TENANT} personas; delete one first.")
        persona = Persona(tenant_id=tenant_id, **body.model_dump())
        session.add(persona)
        session.commit()
        return persona

    def for_tenant(self, session: Session, *, tenant_id: str) -> list[Persona]:
        return list(
            persona_repository.for_tenant(session, tenant_id=tenant_id, limit=MAX_PERSONAS_PER_TENANT)
        )

    def get(self, session: Session, *, tenant_id: str, persona_id: str) -> Persona:
        persona = persona_repository.get_for_tenant(session, tenant_id=tenant_id, persona_id=persona_id)
        if persona is None:  # another tenant's persona is indistinguishable from a missing one
            raise NotFound(f"No persona {persona_id}")
        return persona

    def update(self, session: Session, *, tenant_id: str, persona_id: str, patch: PersonaPatch) -> Persona:
        persona = self.get(session, tenant_id=tenant_id, persona_id=persona_id)
        for name, value in patch.model_dump(exclude_unset=True).items():
            if value is not None:
                setattr(persona, name, value)
        session.commit()
        return persona

    def delete(self, session: Session, *, tenant_id: str, persona_id: str) -> None:
        session.delete(self.get(session, tenant_id=tenant_id, persona_id=persona_id))
        session.commit()

    @staticmethod
    def to_read(persona: Persona) -> PersonaRead:
        return PersonaRead.model_validate(persona, from_attributes=True)

    @staticmethod
    def apply(persona: PersonaRead, result: PromptResult) -> PromptResult:
        """Tone, palette and style words to the prompt; subjects to avoid to the negative prompt.

        A subject to avoid that the prompt itself names is reported as a warning: the request
        is the client's, and the negative prompt alone cannot undo what the prompt asks for.
        """
        source, label = "persona", f"persona {persona.name!r}"
        result = add_each(
            result,
            [
                Addition(
                    f"{persona.tone} mood" if persona.tone else "", "prompt", source, f"{label}: brand tone"
                ),
                Addition(
                    "colour palette of " + " and ".join(persona.palette) if persona.palette else "",
                    "prompt",
                    source,
                    f"{label}: brand colours",
                ),
                Addition(", ".join(persona.style_keywords), "prompt", source, f"{label}: brand style"),
                Addition(
                    ", ".join(persona.avoid),
                    "negative_prompt",
                    source,
                    f"{label}: subjects the brand never shows",
                ),
            ],
        )
        if persona.avoid:
            prompt = result.prompt.lower()
            named = [
                subject
                for subject in persona.avoid
                if re.search(rf"\b{re.escape(subject.lower())}\b", prompt)
            ]
            if named:
                warning = f"the prompt names {', '.join(named)}, which {label} avoids"
                result = PromptResult(
                    result.prompt, result.negative_prompt, result.additions, [*result.warnings, warning]
                )
        return result


persona_service = PersonaService()
