"""A submission's ``output_retention_seconds``: the sweeper deletes the job's outputs and their objects
once it has passed (favourites too), the job says so, and the tier bounds it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from quota_support import assert_counted
from social_form_support import API, auth, moment, submit_form
from support import Embedded, make_image

from imagestudio.assets.models import Asset
from imagestudio.assets.sweeper import sweep_expired_assets, sweep_job_outputs
from imagestudio.db import session_scope, utcnow
from imagestudio.storage import get_store


def output_keys(job_id: str) -> list[str]:
    with session_scope() as session:
        return [a.key for a in session.query(Asset).filter(Asset.job_id == job_id)]


def test_outputs_past_their_retention_are_deleted_with_their_objects_and_the_job_says_so(
    embedded: Embedded,
) -> None:
    key, tenant_id = embedded.new_tenant(tier="pro")
    kept_for = submit_form(embedded, key, output_retention_seconds="3600")
    assert kept_for["output_retention_seconds"] == 3600 and kept_for["outputs_expire_at"] is None
    job_id, other_id = str(kept_for["id"]), str(submit_form(embedded, key)["id"])
    embedded.start_worker()
    embedded.drain()

    done = embedded.client.get(f"{API}/jobs/{job_id}", headers=auth(key)).json()
    assert done["status"] == "succeeded" and done["outputs"] and done["outputs_deleted_at"] is None
    expires = moment(done["outputs_expire_at"])
    assert expires - moment(done["finished_at"]) == pytest.approx(
        timedelta(seconds=3600), abs=timedelta(seconds=5)
    )
    keys = output_keys(job_id)
    assert keys and all(get_store().exists(k) for k in keys)
    # A favourite goes too: the submission asked for the deletion (docs/api.md, "Output retention").
    favourite = embedded.client.post(f"{API}/assets/{done['outputs'][0]['id']}/favorite", headers=auth(key))
    assert favourite.status_code == 200, favourite.text

    with session_scope() as session:  # not due yet: the gateway's sweep leaves it alone
        sweep_expired_assets(session)
    assert output_keys(job_id) == keys
    with session_scope() as session:
        deleted = sweep_job_outputs(session, now=expires + timedelta(seconds=1))
    assert deleted == len(keys)
    assert output_keys(job_id) == [] and not any(get_store().exists(k) for k in keys)
    gone = embedded.client.get(f"{API}/jobs/{job_id}", headers=auth(key)).json()
    assert gone["outputs"] == [] and gone["outputs_deleted_at"] is not None
    # The job without a retention keeps its outputs; the freed bytes leave the tenant's quota.
    other = embedded.client.get(f"{API}/jobs/{other_id}", headers=auth(key)).json()
    assert other["outputs"] and other["outputs_expire_at"] is None
    assert_counted(tenant_id, sum(o["bytes"] for o in other["outputs"]))
    with session_scope() as session:  # a second pass finds nothing more to do
        assert sweep_job_outputs(session, now=utcnow() + timedelta(days=2)) == 0


def test_a_retention_over_the_tiers_is_a_403_naming_the_field_and_costs_nothing(embedded: Embedded) -> None:
    key = embedded.new_key(tier="basic")
    limit = embedded.client.get(f"{API}/credits", headers=auth(key)).json()["max_output_retention_seconds"]
    assert limit == 7 * 86_400
    problem = submit_form(embedded, key, expect=403, output_retention_seconds=str(limit + 1))
    assert problem["field"] == "output_retention_seconds" and problem["allowed"] == limit
    assert embedded.client.get(f"{API}/jobs", headers=auth(key)).json()["items"] == []


def test_a_retention_under_a_minute_is_a_422_naming_the_field(embedded: Embedded) -> None:
    key = embedded.new_key()
    problem = submit_form(embedded, key, expect=422, output_retention_seconds="59")
    assert "output_retention_seconds" in str(problem)


def test_a_refusal_by_the_tier_under_an_idempotency_key_is_a_403_and_the_key_stays_free(
    embedded: Embedded,
) -> None:
    """Seen through the SDK (automatic keys): a plan refusal of a JSON submission with an
    Idempotency-Key was a 500 (the key's answer was rendered as if a job had been made)."""
    key = embedded.new_key(tier="pro")
    upload = embedded.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("a.png", make_image(64, 48), "image/png")}
    ).json()
    body = {"image": upload["id"], "formats": ["linkedin.feed"], "output_retention_seconds": 31 * 86_400}
    headers = {**auth(key), "Idempotency-Key": "retention-too-long"}
    refused = embedded.client.post(f"{API}/social/optimize", headers=headers, json=body)
    assert refused.status_code == 403, refused.text
    assert refused.json()["field"] == "output_retention_seconds"
    # Nothing was recorded under the key: the same key with an allowed request makes its job.
    accepted = embedded.client.post(
        f"{API}/social/optimize", headers=headers, json={**body, "output_retention_seconds": 3600}
    )
    assert accepted.status_code == 202, accepted.text
