"""The baseline: a bare FastAPI hello route, served the same way as the gateway."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}
