"""The floor: the least a FastAPI service can do to take a durable job (issue 31's table).

An ``async def`` route, the JSON body parsed, one ``INSERT`` committed on PostgreSQL through async
psycopg 3 from a pool of 8 connections, 202 with the job's id, nothing else: no auth, no rate
limit, no admission, no outbox, no validation past JSON. Served as the hello route and the gateway
are (uvicorn, uvloop + httptools, one process). ``IMAGESTUDIO_DATABASE_URL`` names the database;
the table ``floor_jobs`` is made at startup.

    IMAGESTUDIO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/x uvicorn --app-dir bench floor_app:app
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

#: Connections in the pool, as in the issue's table.
POOL_SIZE = 8


class Pool:
    """A fixed set of async connections lent one at a time (all opened at startup)."""

    def __init__(self, connections: list[psycopg.AsyncConnection[tuple[object, ...]]]) -> None:
        self.connections = connections
        self.idle: asyncio.Queue[psycopg.AsyncConnection[tuple[object, ...]]] = asyncio.Queue()
        for conn in connections:
            self.idle.put_nowait(conn)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
        conn = await self.idle.get()
        try:
            yield conn
        finally:
            self.idle.put_nowait(conn)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url = os.environ["IMAGESTUDIO_DATABASE_URL"]
    connections = [await psycopg.AsyncConnection.connect(url) for _ in range(POOL_SIZE)]
    async with connections[0].transaction():
        await connections[0].execute(
            "CREATE TABLE IF NOT EXISTS floor_jobs (id varchar PRIMARY KEY, body jsonb NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now())"
        )
    app.state.pool = Pool(connections)
    try:
        yield
    finally:
        for conn in connections:
            await conn.close()


app = FastAPI(lifespan=lifespan)


@app.post("/jobs", status_code=202)
async def submit(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    job_id = uuid.uuid4().hex
    pool: Pool = request.app.state.pool
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("INSERT INTO floor_jobs (id, body) VALUES (%s, %s)", (job_id, json.dumps(body)))
    return JSONResponse({"id": job_id}, status_code=202)
