"""The seeds' endpoints as their documents write them, served by uvicorn (1 worker) beside
raceproof-server in `cargo xtask bench --http` (crates/server/benches/http.rs).

- seed 000: the Basic-auth dependency that re-reads the user on every call and the
  versioned `/update-email` (query parameters `new_email`, `expected_version`; plaintext
  passwords compared with `secrets.compare_digest`);
- seed 002: the hardened `/operate` (constant-time HMAC over resource_id + action +
  timestamp, a per-resource asyncio.Lock around check, process and mark).

`GET /ready` is the bench's, to know the server is up. Nothing else is added: no middleware.
"""

import asyncio
import hashlib
import hmac
import secrets
from typing import Dict

from fastapi import Depends, FastAPI, Header, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel

app = FastAPI()
security = HTTPBasic()

USERS = {
    "alice": {"password": "s3cr3t", "role": "user", "email": "alice@example.com"},
    "admin": {"password": "adm1n", "role": "admin", "email": "admin@example.com"},
}

USERS_WITH_VERSION = {
    "alice": {"password": "s3cr3t", "role": "user", "email": "alice@example.com", "_v": 1},
}


def get_current_user(credentials: HTTPBasicCredentials = Depends(security)):
    user = USERS.get(credentials.username)
    if user is None or not secrets.compare_digest(user["password"], credentials.password):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Invalid credentials",
            headers={"WWW-Authenticate": "Basic"},
        )
    return {"username": credentials.username, "role": user["role"], "email": user["email"]}


@app.post("/update-email")
def update_email(
    new_email: str,
    expected_version: int,
    current_user: dict = Depends(get_current_user),
):
    stored = USERS_WITH_VERSION.get(current_user["username"])
    if not stored:
        raise HTTPException(status_code=404, detail="User not found")
    if stored["_v"] != expected_version:
        raise HTTPException(status_code=409, detail="Resource changed, please retry")
    stored["email"] = new_email
    stored["_v"] += 1
    return {"email": stored["email"], "version": stored["_v"]}


SECRET = b"super-secret-key"
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


async def mark_processed(rid: str):
    processed_set.add(rid)


def process_resource(data: dict):
    pass


@app.post("/operate")
async def operate(payload: Payload, x_request_id: str = Header(None)):
    if not verify_signature_constant_time(payload.model_dump(), payload.signature):
        raise HTTPException(status_code=401, detail="Invalid signature")
    rid = payload.resource_id
    lock = await get_lock(rid)
    async with lock:
        if await is_already_processed(rid):
            raise HTTPException(status_code=409, detail="Already processed")
        process_resource(payload.model_dump())
        await mark_processed(rid)
    return {"status": "ok"}


@app.get("/ready")
def ready():
    return {"ready": True}
