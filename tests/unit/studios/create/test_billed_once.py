"""A paid WaveSpeed prediction is submitted once per output: poll errors and redeliveries re-poll it."""

from __future__ import annotations

from create_support import CreateStack

#: WaveSpeed's qwen-image submission path, the one paid call per output.
SUBMIT = "/api/v3/wavespeed-ai/qwen-image/text-to-image"
POLL = "/api/v3/predictions/"


def test_rate_limit_and_503_while_polling_repoll_the_same_prediction(create_stack: CreateStack) -> None:
    wavespeed = create_stack.sims["wavespeed"]
    wavespeed.faults.push({"status": 429, "retry_after": 0.01, "path": POLL}, {"status": 503, "path": POLL})
    job = create_stack.run({"prompt": "a lighthouse", "provider": "wavespeed", "model": "qwen-image"})
    assert job["status"] == "succeeded", job
    assert wavespeed.calls.count(SUBMIT, method="POST") == 1
    [output] = job["outputs"]
    assert output["metadata"]["provider"] == "wavespeed" and output["metadata"]["attempts"] == 1


def test_a_batch_under_poll_errors_submits_one_prediction_per_output(create_stack: CreateStack) -> None:
    wavespeed = create_stack.sims["wavespeed"]
    wavespeed.faults.push(*[{"status": 503, "path": POLL}] * 4)
    job = create_stack.run(
        {"prompt": "a lighthouse", "provider": "wavespeed", "model": "qwen-image", "count": 3}
    )
    assert job["status"] == "succeeded", job
    assert len(job["outputs"]) == 3
    assert wavespeed.calls.count(SUBMIT, method="POST") == 3
    assert job["params"]["predictions"] == {}  # each finished prediction is forgotten


def test_polling_that_gives_up_resumes_the_stored_prediction_on_the_next_delivery(
    create_stack: CreateStack,
) -> None:
    wavespeed = create_stack.sims["wavespeed"]
    # Every poll of the first delivery fails (3 attempts): the prediction is left in flight, not re-posted.
    wavespeed.faults.push(*[{"status": 503, "path": POLL}] * 3)
    job = create_stack.run({"prompt": "a lighthouse", "provider": "wavespeed", "model": "qwen-image"})
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    assert wavespeed.calls.count(SUBMIT, method="POST") == 1
    remote_ids = {record.path.split("/")[4] for record in wavespeed.calls.entries() if POLL in record.path}
    assert len(remote_ids) == 1  # both deliveries polled the one prediction


def test_a_prediction_that_failed_at_the_vendor_is_not_repolled_but_submitted_afresh_once(
    create_stack: CreateStack,
) -> None:
    wavespeed = create_stack.sims["wavespeed"]
    wavespeed.faults.push({"fail": "worker crashed", "path": SUBMIT})
    job = create_stack.run({"prompt": "a lighthouse", "provider": "wavespeed", "model": "qwen-image"})
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2  # the failed prediction ended the first delivery
    assert wavespeed.calls.count(SUBMIT, method="POST") == 2
    # In progress then failed, in progress then completed: a failed prediction is not polled again.
    assert wavespeed.calls.count(POLL, method="GET") == 4
