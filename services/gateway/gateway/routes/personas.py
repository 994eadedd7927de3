"""Brand personas of the calling tenant (another tenant's persona is a 404)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gateway.deps import PrincipalDep, ReadSessionDep, SessionDep
from gateway.guard import GuardedRoute
from gateway.problems import PROBLEM_RESPONSES
from imagestudio.personas.schemas import PersonaCreate, PersonaList, PersonaPatch, PersonaRead
from imagestudio.personas.service import persona_service

router = APIRouter(
    route_class=GuardedRoute, prefix="/personas", tags=["personas"], responses=PROBLEM_RESPONSES
)


@router.post("", status_code=201, response_model=PersonaRead)
def create_persona(
    body: PersonaCreate, response: Response, session: SessionDep, principal: PrincipalDep
) -> PersonaRead:
    """Store a persona; name it in a create request (``persona_id``) to apply it to the prompt."""
    persona = persona_service.create(session, tenant_id=principal.tenant_id, body=body)
    response.headers["Location"] = f"/api/image-studio/personas/{persona.id}"
    return persona_service.to_read(persona)


@router.get("", response_model=PersonaList)
def list_personas(session: ReadSessionDep, principal: PrincipalDep) -> PersonaList:
    """The tenant's personas, newest first."""
    personas = persona_service.for_tenant(session, tenant_id=principal.tenant_id)
    return PersonaList(items=[persona_service.to_read(p) for p in personas])


@router.get("/{persona_id}", response_model=PersonaRead)
def get_persona(persona_id: str, session: ReadSessionDep, principal: PrincipalDep) -> PersonaRead:
    return persona_service.to_read(
        persona_service.get(session, tenant_id=principal.tenant_id, persona_id=persona_id)
    )


@router.patch("/{persona_id}", response_model=PersonaRead)
def update_persona(
    persona_id: str, patch: PersonaPatch, session: SessionDep, principal: PrincipalDep
) -> PersonaRead:
    """Change some fields; jobs already accepted keep the prompt they were given."""
    persona = persona_service.update(
        session, tenant_id=principal.tenant_id, persona_id=persona_id, patch=patch
    )
    return persona_service.to_read(persona)


@router.delete("/{persona_id}", status_code=204)
def delete_persona(persona_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    persona_service.delete(session, tenant_id=principal.tenant_id, persona_id=persona_id)
    return Response(status_code=204)
