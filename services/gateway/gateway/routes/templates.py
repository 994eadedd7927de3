"""Create-studio templates: the catalogue, ranked search and recommendation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.catalogues import TemplateList, TemplateRead, TemplateRecommendations, TemplateSearchResults
from gateway.deps import PrincipalDep
from gateway.guard import GuardedRoute
from gateway.openapi import example_response
from gateway.problems import PROBLEM_RESPONSES
from imagestudio.errors import ValidationFailed
from imagestudio.templates.service import INTENTS, template_service

router = APIRouter(
    route_class=GuardedRoute, prefix="/templates", tags=["templates"], responses=PROBLEM_RESPONSES
)

#: One real template, as the routes describe it (the OpenAPI examples).
_EXAMPLE = template_service.get("instagram_feed_square").describe()


@router.get("", responses=example_response({"count": 1, "templates": [_EXAMPLE]}))
def list_templates(
    principal: PrincipalDep,
    platform: Annotated[str | None, Query(description="e.g. instagram, linkedin, ecommerce")] = None,
    category: Annotated[str | None, Query(description="e.g. social_media, ad_creative, product")] = None,
) -> TemplateList:
    """Every template (size, true aspect ratio, styles, suggested providers, quality), optionally filtered."""
    found = template_service.find(platform=platform, category=category)
    return TemplateList.model_validate(
        {"count": len(found), "templates": [template.describe() for template in found]}
    )


@router.get(
    "/search",
    responses=example_response(
        {
            "query": "square post",
            "count": 1,
            "results": [m.describe() for m in template_service.search("square post", limit=1)],
        }
    ),
)
def search_templates(
    principal: PrincipalDep,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Words to look for (required)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    query: Annotated[
        str | None,
        Query(
            min_length=1, max_length=200, deprecated=True, description="The old name of `q`, still accepted"
        ),
    ] = None,
) -> TemplateSearchResults:
    """Templates ranked by where the words appear: name, then tags, then use cases and description."""
    # ``query=`` is what the first version of this route took; links and scripts built then still send it.
    q = q if q is not None else query
    if q is None:
        raise ValidationFailed("q", "give the words to look for in q")
    matches = template_service.search(q, limit=limit)
    return TemplateSearchResults.model_validate(
        {"query": q, "count": len(matches), "results": [match.describe() for match in matches]}
    )


@router.get(
    "/recommend",
    responses=example_response(
        {
            "count": 1,
            "results": [
                m.describe()
                for m in template_service.recommend(
                    use_case="product launch", platform="instagram", intent=None, limit=1
                )
            ],
        }
    ),
)
def recommend_templates(
    principal: PrincipalDep,
    use_case: Annotated[str | None, Query(max_length=200, description="What the image is for")] = None,
    platform: Annotated[str | None, Query(description="Where it will be published")] = None,
    intent: Annotated[str | None, Query(description=f"One of {', '.join(INTENTS)}")] = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> TemplateRecommendations:
    """The best templates for a use case, platform and intent, each with the reasons it was picked."""
    matches = template_service.recommend(use_case=use_case, platform=platform, intent=intent, limit=limit)
    return TemplateRecommendations.model_validate(
        {"count": len(matches), "results": [match.describe() for match in matches]}
    )


@router.get("/{template_id}", responses=example_response(_EXAMPLE))
def get_template(template_id: str, principal: PrincipalDep) -> TemplateRead:
    """One template."""
    return TemplateRead.model_validate(template_service.get(template_id).describe())
