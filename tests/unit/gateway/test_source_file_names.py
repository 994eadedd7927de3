"""Source file names: kept by uploads (multipart filename, presigned ``filename``), carried by jobs
(``source_names``) and naming outputs in the library and their downloads (Content-Disposition)."""

from __future__ import annotations

from typing import Any

from support import Embedded, make_image

from imagestudio.storage import clean_filename, download_name
from imagestudio.storage.keys import MAX_FILENAME_CHARS

API = "/api/image-studio"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def upload(stack: Embedded, key: str, filename: str) -> dict[str, Any]:
    response = stack.client.post(
        f"{API}/uploads",
        headers=auth(key),
        files={"file": (filename, make_image(800, 600, "JPEG"), "image/jpeg")},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def finished(stack: Embedded, key: str, response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    job = stack.wait_job(key, response.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def form_job(stack: Embedded, key: str, filename: str, width: int, height: int) -> dict[str, Any]:
    """A finished social job (one X post) whose image was a form file named ``filename``."""
    return finished(
        stack,
        key,
        stack.client.post(
            f"{API}/social/optimize",
            headers=auth(key),
            files={"image": (filename, make_image(width, height), "image/png")},
            data={"formats": "twitter.post", "zip": "false"},
        ),
    )


def test_an_upload_keeps_its_file_name_cleaned(embedded: Embedded) -> None:
    key = embedded.new_key()
    made = upload(embedded, key, "C:\\fakepath\\Beach day.JPG")
    assert made["filename"] == "Beach day.JPG"
    read = embedded.client.get(f"{API}/uploads/{made['id']}", headers=auth(key)).json()
    assert read["filename"] == "Beach day.JPG"
    unnamed = embedded.client.post(
        f"{API}/uploads", headers=auth(key), files={"file": ("", make_image(40, 30), "image/png")}
    )
    assert unnamed.status_code in (201, 422), (
        unnamed.text
    )  # a part with no name is not a file to some parsers
    if unnamed.status_code == 201:
        assert unnamed.json()["filename"] is None


def test_a_presigned_upload_keeps_the_filename_it_was_created_with(embedded: Embedded) -> None:
    key = embedded.new_key()
    long_name = "x" * 300 + ".png"
    response = embedded.client.post(
        f"{API}/uploads",
        headers=auth(key),
        json={"content_type": "image/png", "bytes": 1000, "filename": long_name},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["filename"] == "x" * (MAX_FILENAME_CHARS - 4) + ".png"
    read = embedded.client.get(f"{API}/uploads/{body['id']}", headers=auth(key)).json()
    assert read["filename"] == body["filename"]
    too_long = embedded.client.post(
        f"{API}/uploads",
        headers=auth(key),
        json={"content_type": "image/png", "bytes": 1000, "filename": "y" * 1001},
    )
    assert too_long.status_code == 422 and "filename" in too_long.text


def test_outputs_are_named_after_their_source_in_jobs_the_library_and_downloads(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    made = upload(embedded, key, "beach.jpg")
    job = finished(
        embedded,
        key,
        embedded.client.post(
            f"{API}/social/optimize",
            headers=auth(key),
            json={"image": made["id"], "formats": ["instagram.feed_square", "instagram.story"]},
        ),
    )
    assert job["source_names"] == {"image": "beach.jpg"}
    names = {o["name"]: o["filename"] for o in job["outputs"]}
    assert names["instagram.feed_square"] == "beach-instagram-feed-square.jpg"
    assert names["instagram.story"] == "beach-instagram-story.jpg"
    assert names["all.zip"] == "beach-all.zip"
    story = next(o for o in job["outputs"] if o["name"] == "instagram.story")
    download = embedded.client.get(story["url"].removeprefix("http://testserver"))
    assert download.status_code == 200
    assert 'filename="beach-instagram-story.jpg"' in download.headers["content-disposition"]
    forged = story["url"].removeprefix("http://testserver").replace("beach-instagram", "other-instagram")
    assert embedded.client.get(forged).status_code == 404  # the name is signed with the link

    library = embedded.client.get(f"{API}/assets", headers=auth(key)).json()["items"]
    assert {a["filename"] for a in library if a["job_id"] == job["id"]} >= {
        "beach-instagram-feed-square.jpg",
        "beach-instagram-story.jpg",
    }
    listed = embedded.client.get(f"{API}/jobs", headers=auth(key)).json()["items"]
    assert next(j for j in listed if j["id"] == job["id"])["source_names"] == {"image": "beach.jpg"}


def test_a_form_file_names_the_job_and_an_output_sent_on_keeps_the_chain(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    job = form_job(embedded, key, "coffee.png", 300, 200)
    assert job["source_names"] == {"image": "coffee.png"}
    output = job["outputs"][0]
    assert output["filename"] == "coffee-twitter-post.jpg"
    again = embedded.client.post(f"{API}/uploads", headers=auth(key), json={"asset_id": output["id"]})
    assert again.status_code == 201, again.text
    assert again.json()["filename"] == output["filename"]


def test_clean_filename_and_download_name() -> None:
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("a\r\nb<c>.png") == "a_b_c_.png"
    assert clean_filename("..") is None and clean_filename("") is None and clean_filename(None) is None
    assert clean_filename("Café.png") == "Café.png"
    assert download_name(None, "instagram.story", "jpg") == "instagram.story.jpg"
    assert download_name("Café photo.webp", "linkedin.feed", "png") == "Café photo-linkedin-feed.png"


def test_an_upload_made_from_a_jobs_input_is_its_image_under_its_name(embedded: Embedded) -> None:
    key = embedded.new_key()
    embedded.start_worker()
    job = form_job(embedded, key, "pier.png", 320, 200)
    made = embedded.client.post(
        f"{API}/uploads", headers=auth(key), json={"job_id": job["id"], "field": "image"}
    )
    assert made.status_code == 201, made.text
    assert (made.json()["width"], made.json()["height"], made.json()["filename"]) == (320, 200, "pier.png")

    for body, field in (
        ({"job_id": "nope"}, "job_id"),
        ({"job_id": job["id"], "field": "mask"}, "field"),
        ({"job_id": job["id"], "field": "@source_names"}, "field"),
    ):
        refused = embedded.client.post(f"{API}/uploads", headers=auth(key), json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == field
    other = embedded.new_key("other")
    stranger = embedded.client.post(f"{API}/uploads", headers=auth(other), json={"job_id": job["id"]})
    assert stranger.status_code == 422 and stranger.json()["field"] == "job_id"
