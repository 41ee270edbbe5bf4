"""The Basic-auth seed's /promote and /update-email, ported to run (tests/fastapi.rs).

As in the seed: a Basic-auth dependency that re-reads the user on every call, /promote (admin
only, role check then write) and /update-email (optimistic concurrency on `expected_version`),
both synchronous routes (FastAPI runs them on its thread pool) taking query parameters, so
their requests have no body. Each worker process has its own users, as in the seed.

GET /users/{name} and GET /worker are fixture helpers, not in the seed: they read a user's
role, email and `_v`, and the worker's process id.
"""

import os
import secrets

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from handler_start import HandlerStart

app = FastAPI()
app.add_middleware(HandlerStart)
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


@app.post("/promote")
def promote_user(target: str, current_user: dict = Depends(get_current_user)):
    if current_user["role"] != "admin":
        raise HTTPException(status_code=403, detail="Admin access required")
    if target not in USERS:
        raise HTTPException(status_code=404, detail="Target user not found")
    USERS[target]["role"] = "admin"
    return {"message": f"{target} promoted by {current_user['username']}"}


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


@app.get("/users/{name}")
def read_user(name: str):
    stored = USERS_WITH_VERSION.get(name) or USERS.get(name)
    if stored is None:
        raise HTTPException(status_code=404, detail="User not found")
    return {"role": stored["role"], "email": stored["email"], "_v": stored.get("_v")}


@app.get("/worker")
def worker():
    return {"pid": os.getpid()}
