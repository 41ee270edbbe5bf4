"""The HMAC seed's /operate, ported to run (tests/fastapi.rs serves it with uvicorn and hypercorn).

SEED_VARIANT=vulnerable: verify the signature, check whether the resource was processed,
process it, mark it, with nothing holding the three together (the seed's vulnerable route,
its placeholders given a real in-memory store). SEED_VARIANT=hardened: the seed's fix, a
per-resource asyncio.Lock around check, process and mark. Processing stands for the seed's
"actual business logic" with one await, as any storage write would have: that await is where
another request's check can run (the seed's window). Each worker process has its own store
and its own locks, as in the seed.

GET /worker (a fixture helper, not in the seed) answers the worker's process id.
"""

import asyncio
import hashlib
import hmac
import os
from typing import Dict

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

from handler_start import HandlerStart

app = FastAPI()
app.add_middleware(HandlerStart)

SECRET = b"super-secret-key"
VARIANT = os.environ.get("SEED_VARIANT", "vulnerable")
processed_locks: Dict[str, asyncio.Lock] = {}
processed_set = set()


class Payload(BaseModel):
    resource_id: str
    action: str
    timestamp: str
    signature: str


def verify_signature_constant_time(data: dict, sig: str) -> bool:
    message = f"{data['resource_id']}{data['action']}{data['timestamp']}".encode()
    expected = hmac.new(SECRET, message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, sig)


async def get_lock(resource_id: str) -> asyncio.Lock:
    if resource_id not in processed_locks:
        processed_locks[resource_id] = asyncio.Lock()
    return processed_locks[resource_id]


async def is_already_processed(rid: str) -> bool:
    return rid in processed_set


async def process_resource(data: dict):
    await asyncio.sleep(0)


async def mark_processed(rid: str):
    processed_set.add(rid)


@app.post("/operate")
async def operate(payload: Payload, x_request_id: str = Header(None)):
    data = payload.model_dump()
    if not verify_signature_constant_time(data, payload.signature):
        raise HTTPException(status_code=401, detail="Invalid signature")
    rid = payload.resource_id
    if VARIANT == "hardened":
        lock = await get_lock(rid)
        async with lock:
            if await is_already_processed(rid):
                raise HTTPException(status_code=409, detail="Already processed")
            await process_resource(data)
            await mark_processed(rid)
        return {"status": "ok"}
    if await is_already_processed(rid):
        raise HTTPException(status_code=409, detail="Already processed")
    await process_resource(data)
    await mark_processed(rid)
    return {"status": "ok"}


@app.get("/worker")
async def worker():
    return {"pid": os.getpid()}
