"""The asset library: every output of every job, searchable, taggable, deletable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from gateway.deps import PrincipalDep, ReadSessionDep, SessionDep
from gateway.guard import GuardedRoute
from gateway.openapi import example_response
from gateway.problems import PROBLEM_RESPONSES
from imagestudio.assets.schemas import (
    USAGE_EXAMPLE,
    AssetFilter,
    AssetPage,
    AssetPatch,
    AssetRead,
    AssetUsageCreate,
    AssetUsageRead,
    BulkAction,
    BulkResponse,
)
from imagestudio.assets.service import asset_service
from imagestudio.jobs.models import Studio
from imagestudio.paging import UTCDatetime

router = APIRouter(route_class=GuardedRoute, prefix="/assets", tags=["assets"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=AssetPage)
def list_assets(
    session: ReadSessionDep,
    principal: PrincipalDep,
    studio: Studio | None = None,
    provider: str | None = None,
    tag: str | None = None,
    favorite: bool | None = None,
    created_after: Annotated[
        UTCDatetime | None, Query(description="ISO 8601; without an offset it is read as UTC")
    ] = None,
    created_before: Annotated[
        UTCDatetime | None, Query(description="ISO 8601; without an offset it is read as UTC")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Text search over prompt, tags and name")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> AssetPage:
    """The tenant's assets, newest first, filtered; pass ``next_cursor`` back as ``cursor``."""
    return asset_service.search(
        session,
        tenant_id=principal.tenant_id,
        limit=limit,
        cursor=cursor,
        filters=AssetFilter(
            studio=studio.value if studio else None,
            provider=provider,
            tag=tag,
            favorite=favorite,
            created_after=created_after,
            created_before=created_before,
            text=q,
        ),
    )


@router.post("/bulk", response_model=BulkResponse)
def bulk(action: BulkAction, session: SessionDep, principal: PrincipalDep) -> BulkResponse:
    """Favourite, unfavourite, tag, untag or delete up to 100 assets; one result per id."""
    return asset_service.bulk(session, tenant_id=principal.tenant_id, action=action)


@router.get("/{asset_id}", response_model=AssetRead)
def get_asset(asset_id: str, session: ReadSessionDep, principal: PrincipalDep) -> AssetRead:
    """One asset with a freshly signed download URL."""
    return asset_service.to_read(asset_service.get(session, tenant_id=principal.tenant_id, asset_id=asset_id))


@router.patch("/{asset_id}", response_model=AssetRead)
def patch_asset(asset_id: str, patch: AssetPatch, session: SessionDep, principal: PrincipalDep) -> AssetRead:
    """Replace the tags and/or set the favourite flag."""
    asset = asset_service.update(
        session, tenant_id=principal.tenant_id, asset_id=asset_id, tags=patch.tags, favorite=patch.favorite
    )
    return asset_service.to_read(asset)


@router.post("/{asset_id}/favorite", response_model=AssetRead)
def favorite(asset_id: str, session: SessionDep, principal: PrincipalDep) -> AssetRead:
    return asset_service.to_read(
        asset_service.update(session, tenant_id=principal.tenant_id, asset_id=asset_id, favorite=True)
    )


@router.delete("/{asset_id}/favorite", response_model=AssetRead)
def unfavorite(asset_id: str, session: SessionDep, principal: PrincipalDep) -> AssetRead:
    return asset_service.to_read(
        asset_service.update(session, tenant_id=principal.tenant_id, asset_id=asset_id, favorite=False)
    )


@router.post("/{asset_id}/usage", response_model=AssetRead)
def record_usage(
    asset_id: str, usage: AssetUsageCreate, session: SessionDep, principal: PrincipalDep
) -> AssetRead:
    """Record where the asset was used; the asset's usage count goes up by one."""
    asset = asset_service.record_usage(
        session, tenant_id=principal.tenant_id, asset_id=asset_id, used_in=usage.used_in, note=usage.note
    )
    return asset_service.to_read(asset)


@router.get(
    "/{asset_id}/usage", response_model=list[AssetUsageRead], responses=example_response([USAGE_EXAMPLE])
)
def list_usage(asset_id: str, session: ReadSessionDep, principal: PrincipalDep) -> list[AssetUsageRead]:
    return asset_service.usages(session, tenant_id=principal.tenant_id, asset_id=asset_id)


@router.delete("/{asset_id}", status_code=204)
def delete_asset(asset_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Delete the asset and its object in storage."""
    asset_service.delete(session, tenant_id=principal.tenant_id, asset_id=asset_id)
    return Response(status_code=204)
